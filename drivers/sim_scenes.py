"""The simulated world over time: a schedule of synthetic-world scenes, each with an event.

Time is cut into scenes of `scene_s` seconds; scene k is `sample_scene(k)` of the synthetic world
(so every sim source with the same seed agrees on what happens when). At `onset_s` into each scene
(an infinite `onset_s`: never, background only) its event starts in every modality: the object's
sound starts, the object appears in depth, heats up in thermal (over `heat_s`) and the platform
starts vibrating in the IMU. Before the onset there is only background: noise, the empty room,
ambient temperature, a platform at rest. `events()` is the ground truth a detector can be scored against.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgebind.synthetic import WorldConfig, render, sample_scene

BACKGROUND_NOISE = 0.01  # audio noise level before the event (full scale 1)
FADE_S = 0.02  # audio fade-in at the onset, so the start is a sound event and not a click


@dataclass(frozen=True)
class SceneEvent:
    """Ground truth: scene `index` of class `label` has its event from `onset_s` to `end_s` (sim time)."""

    index: int
    label: str
    caption: str
    onset_s: float
    end_s: float


class SceneSchedule:
    """Which scene is on at a given sim time, and renderings of its signals and frames."""

    def __init__(self, seed: int, num_classes: int, scene_s: float, onset_s: float, heat_s: float) -> None:
        self.world = WorldConfig(num_classes=num_classes, seed=seed)
        self.scene_s, self.onset_s, self.heat_s = scene_s, onset_s, heat_s
        # Per-schedule caches of the current and next scene's renderings (a few MB at most).
        self.scene = lru_cache(maxsize=4)(lambda k: sample_scene(k, self.world))
        for name in ("audio_scene", "imu_scene", "depth_pair", "thermal_pair"):
            setattr(self, name, lru_cache(maxsize=2)(getattr(self, name)))

    def index_at(self, t: float) -> int:
        return int(math.floor(t / self.scene_s))

    def event(self, k: int) -> SceneEvent:
        scene = self.scene(k)
        start = k * self.scene_s
        return SceneEvent(k, scene.spec.name, scene.caption, start + self.onset_s, start + self.scene_s)

    def events(self, until_s: float) -> list[SceneEvent]:
        """Every event whose onset is before `until_s`."""
        return [self.event(k) for k in range(self.index_at(max(until_s - self.onset_s, 0)) + 1)
                if self.event(k).onset_s < until_s]

    def truth(self, t: float) -> dict:
        """Chunk metadata at sim time `t`: the scene, its label and whether its event is on."""
        event = self.event(self.index_at(t))
        return {"scene": event.index, "label": event.label, "event": t >= event.onset_s,
                "onset_s": event.onset_s if math.isfinite(event.onset_s) else None}

    # --- continuous signals: rendered once per scene, sliced per block ------------------------
    def audio_scene(self, k: int, rate: int) -> np.ndarray:
        """[samples, 1] float32 of scene k: background noise, then the object's sound from the onset."""
        scene = self.scene(k)
        t = np.arange(round(self.scene_s * rate)) / rate
        gate = np.clip((t - self.onset_s) / FADE_S, 0, 1)
        sound = render.audio(scene, self.scene_s, rate)[: t.size]
        noise = BACKGROUND_NOISE * np.random.default_rng([self.world.seed, k, 99]).standard_normal(t.size)
        return (gate * sound + noise).astype(np.float32)[:, None]

    def imu_scene(self, k: int, rate: float) -> np.ndarray:
        """[samples, 6] float32 of scene k: at rest (gravity, gyro bias, noise), vibrating from the onset."""
        scene = self.scene(k)
        moving = render.imu(scene, self.scene_s, rate)[:, 1:]
        still = dataclasses.replace(scene.spec, vib_axis=(0.0, 0.0, 0.0), gyro_axis=(0.0, 0.0, 0.0))
        rest = render.imu(dataclasses.replace(scene, spec=still), self.scene_s, rate)[:, 1:]
        t = np.arange(moving.shape[0]) / rate
        return np.where((t >= self.onset_s)[:, None], moving, rest).astype(np.float32)

    def samples(self, kind: str, start: int, count: int, rate: float) -> np.ndarray:
        """Samples `start .. start + count` of the continuous `kind` ("audio" or "imu") signal."""
        render_scene = self.audio_scene if kind == "audio" else self.imu_scene
        per_scene = round(self.scene_s * rate)
        pieces, n = [], start
        while n < start + count:
            k, offset = divmod(n, per_scene)
            piece = render_scene(k, rate)[offset: offset + start + count - n]
            pieces.append(piece)
            n += len(piece)
        return np.concatenate(pieces)

    # --- frames ---------------------------------------------------------------------------------
    def depth_pair(self, k: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(empty room, room with the object) uint16 millimetre frames of scene k."""
        scene = self.scene(k)
        empty = render.depth(dataclasses.replace(scene, radius=1e-3), size)
        return _frozen(empty), _frozen(render.depth(scene, size))

    def thermal_pair(self, k: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(ambient, object fully heated) float32 Kelvin frames of scene k."""
        scene = self.scene(k)
        cold = dataclasses.replace(scene, spec=dataclasses.replace(scene.spec, delta_k=0.0))
        return _frozen(render.thermal(cold, size)), _frozen(render.thermal(scene, size))

    def depth(self, t: float, size: int) -> np.ndarray:
        k = self.index_at(t)
        return self.depth_pair(k, size)[t >= self.event(k).onset_s]

    def thermal(self, t: float, size: int) -> np.ndarray:
        """Ambient before the onset, then heating linearly to full over `heat_s`."""
        k = self.index_at(t)
        ambient, hot = self.thermal_pair(k, size)
        heat = np.clip((t - self.event(k).onset_s) / self.heat_s, 0, 1)
        return ambient if heat == 0 else _frozen(ambient + np.float32(heat) * (hot - ambient))


def _frozen(frame: np.ndarray) -> np.ndarray:
    """Read-only, so a frame shared by several chunks cannot be changed through one of them."""
    frame.flags.writeable = False
    return frame

