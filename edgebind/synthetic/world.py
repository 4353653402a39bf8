"""A deterministic paired toy world: K sound-making objects observed by every edgebind modality.

Each class has a signature in every modality, and each sample draws four attributes (size,
temperature, speed, distance) that the caption names and the modalities show, so modalities pair per
sample and not only per class: by default each modality shows the attributes it physically would
(SHOWS), with `cues="all"` every modality shows all four. Sample `i` depends only on (seed, i), never on other samples.
By default the (at most 16) class signatures are fixed; `signature_seed` draws a new world instead:
any number of classes, with names and signatures drawn from that seed, so a training recipe can be
checked on worlds it was never tuned on.
"""
from __future__ import annotations

import colorsys
import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from tqdm import tqdm

from edgebind import datafiles
from edgebind.errors import ConfigError, InputError
from edgebind.manifest import MANIFEST_NAME, write_manifest
from edgebind.synthetic import render

CLASS_NAMES: tuple[str, ...] = (
    "drone", "fan", "dog", "car", "kettle", "bell", "drill", "train",
    "bird", "clock", "guitar", "pump", "blender", "horse", "boat", "phone",
)
# Names that drawn worlds (WorldConfig.signature_seed) pick from; beyond these, names get a number.
NAME_POOL: tuple[str, ...] = CLASS_NAMES + (
    "truck", "cat", "cow", "siren", "drum", "piano", "mixer", "saw", "printer", "heater", "radio",
    "mower", "tractor", "bus", "plane", "robot", "washer", "toaster", "crane", "scooter", "owl",
    "frog", "sheep", "goat", "lamp", "vacuum", "fridge", "engine", "rotor", "turbine", "whistle",
    "violin", "trumpet", "cricket", "bee", "duck", "goose", "tram", "ferry", "forklift", "compressor",
    "grinder", "router", "speaker", "camera", "kiln", "furnace", "boiler",
)
# Attribute -> its two values; the first is the "low" end (smaller, cooler, slower, nearer).
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "size": ("small", "large"),
    "temperature": ("cool", "hot"),
    "speed": ("slow", "fast"),
    "distance": ("near", "far"),
}
# The attributes each modality shows (render.py), per WorldConfig.cues. "partial": audio has no
# temperature, depth sees neither temperature nor speed, thermal no speed, the IMU only size and speed.
# "all" adds a cue for each of those: a hot object's hiss, depth's motion smear and IR dropouts on hot
# surfaces, the thermal camera's lag on fast objects, vibration fading with distance and gyro bias
# drifting with heat.
SHOWS: dict[str, dict[str, frozenset]] = {
    "partial": {"vision": frozenset(ATTRIBUTES), "audio": frozenset({"size", "speed", "distance"}),
                "depth": frozenset({"size", "distance"}), "thermal": frozenset({"size", "temperature", "distance"}),
                "imu": frozenset({"size", "speed"})},
    "all": {m: frozenset(ATTRIBUTES) for m in ("vision", "audio", "depth", "thermal", "imu")},
}


@dataclass(frozen=True)
class WorldConfig:
    """Sizes, rates and the seed of a synthetic world; `noise` scales every nuisance noise (0 = clean).

    `seed` draws the samples; `signature_seed` (None: the fixed 16-class signatures) draws the
    classes themselves, their names and signatures, for any `num_classes`; `cues` says which
    attributes each modality shows (SHOWS).
    """

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
    signature_seed: Optional[int] = None  # last: positional WorldConfig(classes, seed) keeps its meaning
    cues: str = "partial"  # which attributes each modality shows: "partial" or "all" (see SHOWS)

    def __post_init__(self) -> None:
        if self.signature_seed is None and not 1 <= self.num_classes <= len(CLASS_NAMES):
            raise ConfigError(f"num_classes must be 1..{len(CLASS_NAMES)}, got {self.num_classes}; "
                              "set signature_seed to draw a world with more classes")
        if self.num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {self.num_classes}")
        for name in ("image_size", "depth_size", "thermal_size"):
            if getattr(self, name) < 16:
                raise ConfigError(f"{name} must be at least 16 pixels, got {getattr(self, name)}")
        if self.cues not in SHOWS:
            raise ConfigError(f"cues must be one of {', '.join(SHOWS)}, got {self.cues!r}")
        if min(self.audio_seconds, self.imu_seconds) <= 0 or self.noise < 0:
            raise ConfigError("audio_seconds and imu_seconds must be > 0 and noise >= 0")
        specs = [self.spec(k) for k in range(self.num_classes)]
        if max(s.f0 for s in specs) * render.MAX_PITCH > 0.45 * self.audio_rate:
            raise ConfigError(f"audio_rate {self.audio_rate} Hz is too low for {self.num_classes} classes")
        if max(s.vib_hz for s in specs) * render.MAX_VIB > 0.45 * self.imu_rate_hz:
            raise ConfigError(f"imu_rate_hz {self.imu_rate_hz} is too low for {self.num_classes} classes")

    def spec(self, k: int) -> "ClassSpec":
        """Signature of class `k` in this world: fixed (class_spec) or drawn from signature_seed."""
        if self.signature_seed is None:
            return class_spec(k)
        return drawn_specs(self.signature_seed, self.num_classes)[k]

    @property
    def class_names(self) -> tuple[str, ...]:
        """The names of this world's classes, in label order (class k is sample k mod num_classes)."""
        return tuple(self.spec(k).name for k in range(self.num_classes))


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


def _spread(rng: np.random.Generator, low: float, high: float, n: int, log: bool = False) -> np.ndarray:
    """`n` values evenly spread over [low, high] (log-spaced with `log`), in a random order, so
    every pair of classes differs in this parameter."""
    grid = (np.arange(n) + rng.uniform(0.3, 0.7)) / n
    values = low * (high / low) ** grid if log else low + (high - low) * grid
    return rng.permutation(values)


def _silhouettes(rng: np.random.Generator, n: int) -> tuple[list[str], list[str], list[str]]:
    """Shape, depth relief and heat pattern per class, drawn so that (as long as there are enough
    combinations) no two classes share a (shape, relief) or a (shape, heat pattern): every pair of
    classes then differs in depth and in thermal, not only in the image's colour."""
    pairs = list(itertools.product(render.SHAPES, render.RELIEFS))
    picked = [pairs[i] for i in rng.permutation(np.resize(rng.permutation(len(pairs)), n))]
    heat: list[str] = [""] * n
    for shape in render.SHAPES:
        members = [k for k in range(n) if picked[k][0] == shape]
        patterns = np.resize(rng.permutation(render.HEAT_PATTERNS), len(members))
        for k, pattern in zip(members, patterns):
            heat[k] = str(pattern)
    return [a for a, _ in picked], [b for _, b in picked], heat


def _names(rng: np.random.Generator, n: int) -> list[str]:
    """`n` distinct class names from NAME_POOL; past its size, pool names with a number."""
    names = [NAME_POOL[i] for i in rng.permutation(len(NAME_POOL))]
    return [names[i % len(names)] + (str(i // len(names) + 1) if i >= len(names) else "") for i in range(n)]


@lru_cache(maxsize=None)
def drawn_specs(signature_seed: int, num_classes: int) -> tuple[ClassSpec, ...]:
    """The classes of a drawn world: names and signatures from `signature_seed`, every continuous
    parameter spread over the same ranges as the fixed world so any class count stays separable."""
    rng = np.random.default_rng([signature_seed, num_classes, 7])
    n = num_classes
    hue = _spread(rng, 0.0, 1.0, n)
    axes = rng.standard_normal((n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    helper = rng.standard_normal((n, 3))
    gyros = np.cross(axes, helper)
    gyros /= np.linalg.norm(gyros, axis=1, keepdims=True)
    shapes, reliefs, heat = _silhouettes(rng, n)
    columns = {
        "name": _names(rng, n),
        "shape": shapes,
        "rgb": [tuple(float(c) for c in colorsys.hsv_to_rgb(h, rng.uniform(0.7, 0.95), rng.uniform(0.75, 0.95)))
                for h in hue],
        "f0": _spread(rng, 90.0, 5000.0, n, log=True),
        "harmonic_decay": _spread(rng, 0.6, 2.2, n),
        "pulse": _spread(rng, 1.0, 8.0, n, log=True),
        "relief": reliefs,
        "relief_m": _spread(rng, 0.06, 0.26, n),
        "heat_pattern": heat,
        "heat_freq": _spread(rng, 1.0, 3.25, n),
        "delta_k": _spread(rng, 8.0, 28.0, n),
        "vib_hz": _spread(rng, 3.0, 60.0, n, log=True),
        "vib_harmonic": _spread(rng, 0.0, 0.6, n),
        "vib_axis": [tuple(float(a) for a in axis) for axis in axes],
        "gyro_axis": [tuple(float(g) for g in gyro) for gyro in gyros],
    }
    numbers = {"f0", "harmonic_decay", "pulse", "relief_m", "heat_freq", "delta_k", "vib_hz", "vib_harmonic"}
    return tuple(
        ClassSpec(index=k, **{key: float(v[k]) if key in numbers else v[k] for key, v in columns.items()})
        for k in range(n)
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
    cues: str = "partial"  # WorldConfig.cues

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

    def shows(self, modality: str, attribute: str) -> bool:
        """Whether `modality` shows `attribute` in this scene's world (SHOWS)."""
        return attribute in SHOWS[self.cues][modality]

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
        spec=config.spec(index % config.num_classes),
        attributes=attributes,
        center=tuple(float(c) for c in rng.uniform(margin, 1 - margin, 2)),
        radius=float(radius),
        angle=float(rng.uniform(-0.35, 0.35)),
        noise=float(config.noise * rng.uniform(0.5, 1.5)),
        cues=config.cues,
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


# Manifest key -> writer(path without suffix, array, config) -> the path written.
_WRITERS: dict[str, Callable[[Path, np.ndarray, WorldConfig], Path]] = {
    "image": lambda p, a, c: datafiles.save_image(p, a),
    "audio": lambda p, a, c: datafiles.save_audio(p, a, c.audio_rate),
    "depth": lambda p, a, c: datafiles.save_depth(p, a),
    "thermal": lambda p, a, c: datafiles.save_thermal(p, a),
    "imu": lambda p, a, c: datafiles.save_imu(p, a),
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
        for key, write in _WRITERS.items():
            row[key] = write(out_dir / key / data["id"], data[key], config).relative_to(out_dir).as_posix()
        rows.append({**row, "attributes": data["attributes"]})
    return write_manifest(out_dir / MANIFEST_NAME, rows)
