"""A deterministic paired toy world: K sound-making objects observed by every edgebind modality.

Each class has a signature in every modality, and each sample draws four attributes (size,
temperature, speed, distance) that every modality and the caption reflect, so modalities pair per
sample and not only per class. Sample `i` depends only on (seed, i), never on other samples.
"""
from __future__ import annotations

import colorsys
import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import soundfile as sf
from PIL import Image
from tqdm import tqdm

from edgebind.errors import ConfigError, InputError
from edgebind.manifest import MANIFEST_NAME, write_manifest
from edgebind.synthetic import render

CLASS_NAMES: tuple[str, ...] = (
    "drone", "fan", "dog", "car", "kettle", "bell", "drill", "train",
    "bird", "clock", "guitar", "pump", "blender", "horse", "boat", "phone",
)
# Attribute -> its two values; the first is the "low" end (smaller, cooler, slower, nearer).
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "size": ("small", "large"),
    "temperature": ("cool", "hot"),
    "speed": ("slow", "fast"),
    "distance": ("near", "far"),
}


@dataclass(frozen=True)
class WorldConfig:
    """Sizes, rates and the seed of a synthetic world; `noise` scales every nuisance noise (0 = clean)."""

    num_classes: int = 8
    seed: int = 0
    image_size: int = 64
    depth_size: int = 64
    thermal_size: int = 64
    audio_seconds: float = 2.0
    audio_rate: int = 16000
    imu_rate_hz: float = 200.0
    imu_seconds: float = 2.0
    noise: float = 0.1

    def __post_init__(self) -> None:
        if not 1 <= self.num_classes <= len(CLASS_NAMES):
            raise ConfigError(f"num_classes must be 1..{len(CLASS_NAMES)}, got {self.num_classes}")
        for name in ("image_size", "depth_size", "thermal_size"):
            if getattr(self, name) < 16:
                raise ConfigError(f"{name} must be at least 16 pixels, got {getattr(self, name)}")
        if min(self.audio_seconds, self.imu_seconds) <= 0 or self.noise < 0:
            raise ConfigError("audio_seconds and imu_seconds must be > 0 and noise >= 0")
        top = class_spec(self.num_classes - 1)
        if top.f0 * render.MAX_PITCH > 0.45 * self.audio_rate:
            raise ConfigError(f"audio_rate {self.audio_rate} Hz is too low for {self.num_classes} classes")
        if top.vib_hz * render.MAX_VIB > 0.45 * self.imu_rate_hz:
            raise ConfigError(f"imu_rate_hz {self.imu_rate_hz} is too low for {self.num_classes} classes")


@dataclass(frozen=True)
class ClassSpec:
    """The fixed per-class signature in every modality (independent of the seed)."""

    index: int
    name: str
    shape: str  # image, depth and thermal silhouette (render.SHAPES)
    rgb: tuple[float, float, float]  # image colour, 0..1
    f0: float  # audio fundamental, Hz
    harmonic_decay: float  # audio harmonic h has amplitude h**-decay
    pulse: float  # audio envelope sharpness: 1 smooth tremolo, 8 short bursts
    relief: str  # depth surface profile (render.RELIEFS)
    relief_m: float  # depth relief height, metres
    heat_pattern: str  # thermal pattern over the object (render.HEAT_PATTERNS)
    heat_freq: float  # thermal pattern cycles per object radius
    delta_k: float  # object temperature above ambient when hot, Kelvin
    vib_hz: float  # IMU vibration frequency
    vib_harmonic: float  # IMU second-harmonic weight
    vib_axis: tuple[float, float, float]  # IMU accelerometer vibration direction (unit)
    gyro_axis: tuple[float, float, float]  # IMU rotation-rate direction (unit)


@lru_cache(maxsize=None)
def class_spec(k: int) -> ClassSpec:
    """Signature of class `k`: parameters are spread so every pair of classes differs in each modality."""
    z = 1 - 2 * (k + 0.5) / len(CLASS_NAMES)  # Fibonacci sphere point k: well-separated axes
    theta = k * math.pi * (3 - math.sqrt(5))
    axis = np.array([math.sqrt(1 - z * z) * math.cos(theta), math.sqrt(1 - z * z) * math.sin(theta), z])
    gyro = np.cross(axis, [0.0, 0.0, 1.0])
    return ClassSpec(
        index=k,
        name=CLASS_NAMES[k],
        shape=render.SHAPES[k % len(render.SHAPES)],
        rgb=colorsys.hsv_to_rgb((k * 0.381966) % 1.0, 0.85, 0.9),
        f0=110.0 * 2 ** (k / 3),
        harmonic_decay=(0.7, 1.2, 2.0)[k % 3],
        pulse=(1.0, 3.0, 8.0)[(k // 3) % 3],
        relief=render.RELIEFS[(k + k // 8) % len(render.RELIEFS)],
        relief_m=0.08 + 0.04 * (k % 5),
        heat_pattern=render.HEAT_PATTERNS[k % len(render.HEAT_PATTERNS)],
        heat_freq=1.0 + 0.75 * (k // 4 % 4),
        delta_k=8.0 + 4.0 * (k % 6),
        vib_hz=3.0 * 1.2**k,
        vib_harmonic=(0.0, 0.3, 0.6)[(k + 1) % 3],
        vib_axis=tuple(float(a) for a in axis),
        gyro_axis=tuple(float(g) for g in gyro / np.linalg.norm(gyro)),
    )


def caption_for(name: str, attributes: dict[str, str]) -> str:
    """The caption of a `name` scene with these attribute values."""
    a = attributes
    return f"a {a['size']} {a['temperature']} {name} moving {a['speed']}, {a['distance']}"


def prompt_ensemble(classes: "list[str] | tuple[str, ...]") -> dict[str, list[str]]:
    """Zero-shot prompts per class: its caption under every attribute combination (a prompt
    ensemble in the world's own phrasing, as CLIP's templates are in web-caption phrasing)."""
    combos = itertools.product(*ATTRIBUTES.values())
    values = [dict(zip(ATTRIBUTES, combo)) for combo in combos]
    return {name: [caption_for(name, v) for v in values] for name in classes}


@dataclass(frozen=True)
class Scene:
    """What a sample's modalities share; modality-specific nuisance is drawn when rendering."""

    index: int
    seed: int
    spec: ClassSpec
    attributes: dict[str, str]  # attribute -> value, see ATTRIBUTES
    center: tuple[float, float]  # object centre (x, y), fraction of the frame
    radius: float  # object radius, fraction of the frame
    angle: float  # object rotation, radians
    noise: float  # this sample's noise level

    @property
    def id(self) -> str:
        return f"{self.index:06d}"

    @property
    def caption(self) -> str:
        """E.g. "a large hot drone moving fast, near": names the class and every attribute."""
        return caption_for(self.spec.name, self.attributes)

    def high(self, attribute: str) -> bool:
        """Whether `attribute` takes its second value (large, hot, fast, far)."""
        return self.attributes[attribute] == ATTRIBUTES[attribute][1]

    def rng(self, stream: int) -> np.random.Generator:
        """An independent generator per (seed, sample, stream), so modalities never share draws."""
        return np.random.default_rng([self.seed, self.index, stream])


def sample_scene(index: int, config: WorldConfig = WorldConfig()) -> Scene:
    """Scene of sample `index`: class `index % num_classes`, random attributes, pose and noise."""
    if index < 0:
        raise InputError(f"sample index must be >= 0, got {index}")
    rng = np.random.default_rng([config.seed, index, 0])  # stream 0; renderers use 1..5
    high = dict(zip(ATTRIBUTES, rng.integers(2, size=len(ATTRIBUTES))))
    attributes = {name: values[high[name]] for name, values in ATTRIBUTES.items()}
    radius = 0.3 * (0.65, 1.0)[high["size"]] * (1.0, 0.6)[high["distance"]] * rng.uniform(0.9, 1.1)
    margin = radius + 0.03
    return Scene(
        index=index,
        seed=config.seed,
        spec=class_spec(index % config.num_classes),
        attributes=attributes,
        center=tuple(float(c) for c in rng.uniform(margin, 1 - margin, 2)),
        radius=float(radius),
        angle=float(rng.uniform(-0.35, 0.35)),
        noise=float(config.noise * rng.uniform(0.5, 1.5)),
    )


def render_sample(scene: Scene, config: WorldConfig = WorldConfig()) -> dict[str, Any]:
    """Arrays of every modality (keys as in the manifest) plus id, label, caption and attributes."""
    return {
        "id": scene.id,
        "label": scene.spec.name,
        "caption": scene.caption,
        "attributes": dict(scene.attributes),
        "image": render.image(scene, config.image_size),
        "audio": render.audio(scene, config.audio_seconds, config.audio_rate),
        "depth": render.depth(scene, config.depth_size),
        "thermal": render.thermal(scene, config.thermal_size),
        "imu": render.imu(scene, config.imu_seconds, config.imu_rate_hz),
    }


def _save_imu(path: Path, data: np.ndarray) -> None:
    np.savetxt(path, data, fmt="%.6f", delimiter=",", header="t,ax,ay,az,gx,gy,gz", comments="")


# Manifest key -> (file suffix, writer(path, array, config)).
_WRITERS: dict[str, tuple[str, Callable[[Path, np.ndarray, WorldConfig], None]]] = {
    "image": (".png", lambda p, a, c: Image.fromarray(a).save(p)),
    "audio": (".wav", lambda p, a, c: sf.write(p, a, c.audio_rate, subtype="PCM_16")),
    "depth": (".png", lambda p, a, c: Image.fromarray(a).save(p)),
    "thermal": (".npy", lambda p, a, c: np.save(p, a)),
    "imu": (".csv", lambda p, a, c: _save_imu(p, a)),
}


def make_world(
    out_dir: "str | Path", num_samples: int, config: WorldConfig = WorldConfig(), progress: bool = True
) -> Path:
    """Write `num_samples` samples (one folder per modality) and manifest.jsonl; return its path."""
    if num_samples < 1:
        raise InputError(f"num_samples must be >= 1, got {num_samples}")
    out_dir = Path(out_dir)
    for key in _WRITERS:
        (out_dir / key).mkdir(parents=True, exist_ok=True)
    rows = []
    for index in tqdm(range(num_samples), desc="synthetic world", disable=not progress or num_samples <= 50):
        data = render_sample(sample_scene(index, config), config)
        row = {k: data[k] for k in ("id", "label", "caption")}
        for key, (suffix, write) in _WRITERS.items():
            relative = f"{key}/{data['id']}{suffix}"
            write(out_dir / relative, data[key], config)
            row[key] = relative
        rows.append({**row, "attributes": data["attributes"]})
    return write_manifest(out_dir / MANIFEST_NAME, rows)
