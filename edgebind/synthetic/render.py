"""Per-modality renderers of a synthetic Scene, vectorised with numpy.

Image, depth and thermal share one object geometry (silhouette, centre, radius, rotation), as if the
sensors were co-registered; audio and IMU come from the same object's vibration. Each renderer draws
its nuisance from its own generator `scene.rng(stream)`, so modalities stay independent and seeded.
The cues of `cues="all"` worlds (world.SHOWS) draw from streams of their own (6, 7), so the default
world renders exactly as it did before they existed.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from edgebind.synthetic.world import Scene


def _ngon(n: int, radius: float = 1.0, phase: float = -math.pi / 2) -> np.ndarray:
    angles = phase + 2 * math.pi * np.arange(n) / n
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star() -> np.ndarray:
    points = _ngon(10)
    points[1::2] *= 0.45
    return points


_W = 0.35  # half-width of the cross arms
# Silhouettes in object units (radius 1): polygons drawn in order with fill 255 (solid) or 0 (hole).
_SHAPES: dict[str, list[tuple[np.ndarray, int]]] = {
    "circle": [(_ngon(48), 255)],
    "square": [(_ngon(4, phase=math.pi / 4), 255)],
    "triangle": [(_ngon(3), 255)],
    "cross": [(np.array([(-_W, -1), (_W, -1), (_W, -_W), (1, -_W), (1, _W), (_W, _W),
                         (_W, 1), (-_W, 1), (-_W, _W), (-1, _W), (-1, -_W), (-_W, -_W)]), 255)],
    "ring": [(_ngon(48), 255), (_ngon(48, 0.55), 0)],
    "star": [(_star(), 255)],
    "hexagon": [(_ngon(6), 255)],
    "bar": [(np.array([(-1, -0.4), (1, -0.4), (1, 0.4), (-1, 0.4)]), 255)],
}
# Depth surface height over the object, as a function of the normalised radius rho in [0, 1].
_RELIEFS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "flat": np.zeros_like,
    "dome": lambda rho: np.sqrt(1 - rho**2),
    "cone": lambda rho: 1 - rho,
    "ridges": lambda rho: 0.5 + 0.5 * np.cos(3 * math.pi * rho),
}
# Thermal pattern in [0.3, 1] over the object, from object coordinates (u, v) and cycles per radius f.
_HEAT: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    "uniform": lambda u, v, f: np.ones_like(u),
    "core": lambda u, v, f: 0.3 + 0.7 * np.exp(-2 * (u**2 + v**2)),
    "stripes": lambda u, v, f: 0.65 + 0.35 * np.cos(2 * math.pi * f * u),
    "spots": lambda u, v, f: 0.65 + 0.35 * np.cos(2 * math.pi * f * u) * np.cos(2 * math.pi * f * v),
}
SHAPES, RELIEFS, HEAT_PATTERNS = tuple(_SHAPES), tuple(_RELIEFS), tuple(_HEAT)

PITCH = (1.06, 0.9)  # audio pitch factor for (small, large): big objects sound lower
VIB = (0.92, 1.08)  # IMU vibration frequency factor for (slow, fast)
MAX_PITCH, MAX_VIB = PITCH[0] * 1.01, VIB[1] * 1.02  # including per-sample jitter
_WARM, _COOL = np.array([1.0, 0.55, 0.25]), np.array([0.25, 0.55, 1.0])
SMEAR = 0.12  # motion blur of a fast object, fraction of the frame (image; depth and thermal with cues="all")
HISS = 0.25  # a hot object's hiss, relative to its tone's level (cues="all")
DROPOUT = 0.12  # share of a hot object's depth pixels lost to its IR glare (cues="all")
FAR_VIBRATION = 0.5  # vibration amplitude reaching the IMU from far away (cues="all")
HOT_GYRO_BIAS = 0.05  # rad/s added to the gyro bias by a hot object's heat (cues="all")


def _frame(scene: "Scene", size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel-centre frame coordinates (x, y) in [0, 1] and object coordinates (u, v) in radii."""
    y, x = np.meshgrid((np.arange(size) + 0.5) / size, (np.arange(size) + 0.5) / size, indexing="ij")
    dx, dy = x - scene.center[0], y - scene.center[1]
    cos, sin = math.cos(scene.angle), math.sin(scene.angle)
    return x, y, (dx * cos + dy * sin) / scene.radius, (dy * cos - dx * sin) / scene.radius


def _silhouette(scene: "Scene", size: int, supersample: int = 2) -> np.ndarray:
    """Anti-aliased object coverage in [0, 1], drawn with PIL at `supersample` x resolution."""
    n = size * supersample
    canvas = Image.new("L", (n, n))
    draw = ImageDraw.Draw(canvas)
    cos, sin = math.cos(scene.angle), math.sin(scene.angle)
    rotation = np.array([[cos, sin], [-sin, cos]])
    for polygon, fill in _SHAPES[scene.spec.shape]:
        points = (np.asarray(scene.center) + scene.radius * polygon @ rotation) * n
        draw.polygon([tuple(p) for p in points], fill=fill)
    coverage = np.asarray(canvas, dtype=np.float32) / 255.0
    return coverage.reshape(size, supersample, size, supersample).mean(axis=(1, 3))


def _box_blur(a: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Moving average of width `k` along `axis`, same shape (edges repeated)."""
    if k <= 1:
        return a
    pad = [(0, 0)] * a.ndim
    pad[axis] = (k // 2 + 1, k - 1 - k // 2)
    c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis)
    n = c.shape[axis]
    return (np.take(c, range(k, n), axis=axis) - np.take(c, range(0, n - k), axis=axis)) / k


def _smear(a: np.ndarray, size: int) -> np.ndarray:
    """Horizontal motion blur of a fast object over a `size`-pixel frame."""
    return _box_blur(a, max(2, round(SMEAR * size)), axis=1)


def image(scene: "Scene", size: int) -> np.ndarray:
    """RGB uint8: class shape in class colour (warmer when hot, hazier when far) on a random backdrop;
    fast objects are motion-blurred."""
    rng = scene.rng(1)
    x, y, u, v = _frame(scene, size)
    grey, direction = rng.uniform(0.25, 0.75), rng.uniform(0, 2 * math.pi)
    gradient = rng.uniform(-0.3, 0.3) * ((x - 0.5) * math.cos(direction) + (y - 0.5) * math.sin(direction))
    background = grey + rng.normal(0, 0.05, 3) + gradient[..., None]
    background = background + 0.3 * scene.noise * rng.standard_normal((size, size, 3))
    colour = 0.75 * np.asarray(scene.spec.rgb) + 0.25 * (_WARM if scene.high("temperature") else _COOL)
    if scene.high("distance"):
        colour = 0.8 * colour + 0.2 * grey
    shading = 0.75 + 0.25 * np.clip(1 - np.hypot(u, v), 0, 1)
    foreground = colour * shading[..., None] * rng.uniform(0.85, 1.1)
    alpha = _silhouette(scene, size)
    if scene.high("speed"):
        alpha = _smear(alpha, size)
    rgb = background * (1 - alpha[..., None]) + foreground * alpha[..., None]
    return np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def audio(scene: "Scene", seconds: float, rate: int) -> np.ndarray:
    """Mono float32 in [-1, 1]: harmonic stack at the class pitch (lower when large), class envelope
    pulsing at the speed rate, level set by distance, plus white noise."""
    rng = scene.rng(2)
    spec = scene.spec
    t = np.arange(round(seconds * rate)) / rate
    f0 = spec.f0 * PITCH[scene.high("size")] * rng.uniform(0.99, 1.01)
    harmonics = np.arange(1, 9)
    harmonics = harmonics[harmonics * f0 < 0.45 * rate]
    phases = rng.uniform(0, 2 * math.pi, (len(harmonics), 1))
    tone = (harmonics[:, None] ** -spec.harmonic_decay
            * np.sin(2 * math.pi * f0 * harmonics[:, None] * t + phases)).sum(axis=0)
    am_rate = (2.0, 6.0)[scene.high("speed")] * rng.uniform(0.9, 1.1)
    envelope = 0.25 + 0.75 * (0.5 + 0.5 * np.sin(2 * math.pi * am_rate * t + rng.uniform(0, 6.3))) ** spec.pulse
    level = (0.6, 0.2)[scene.high("distance")] * rng.uniform(0.8, 1.2)
    wave = level * envelope * tone / np.abs(tone).max() + 0.3 * scene.noise * rng.standard_normal(t.size)
    if scene.shows("audio", "temperature") and scene.high("temperature"):
        hiss = np.diff(scene.rng(6).standard_normal(t.size + 1))  # white noise, high-passed
        wave = wave + HISS * level * hiss / hiss.std()
    return np.clip(wave, -1, 1).astype(np.float32)


def depth(scene: "Scene", size: int) -> np.ndarray:
    """uint16 millimetres: the class silhouette with its class relief (deeper when large) at the near or
    far distance, over a tilted background plane; depth-dependent noise and a few 0 (invalid) pixels.
    With cues="all" a fast object smears into the background (flying pixels between the two depths)
    and a hot one loses pixels to IR glare."""
    rng = scene.rng(3)
    x, y, u, v = _frame(scene, size)
    plane = rng.uniform(4.0, 6.0) + rng.uniform(-1, 1) * (x - 0.5) + rng.uniform(-1, 1) * (y - 0.5)
    distance = rng.uniform(*((1.0, 1.6), (2.6, 3.4))[scene.high("distance")])
    height = _RELIEFS[scene.spec.relief](np.clip(np.hypot(u, v), 0, 1))
    surface = distance - height * scene.spec.relief_m * (0.6, 1.0)[scene.high("size")]
    coverage = _silhouette(scene, size)
    metres = np.where(coverage > 0.5, surface, plane)
    if scene.shows("depth", "speed") and scene.high("speed"):  # motion mixes object and background
        coverage = _smear(coverage, size)
        metres = coverage * surface + (1 - coverage) * plane
    metres = metres + 0.012 * scene.noise * metres**2 * rng.standard_normal(metres.shape)
    millimetres = np.clip(np.rint(metres * 1000), 1, 65535).astype(np.uint16)
    millimetres.flat[rng.integers(0, size * size, max(1, size * size // 500))] = 0
    if scene.shows("depth", "temperature") and scene.high("temperature"):
        millimetres[(coverage > 0.5) & (scene.rng(7).random(coverage.shape) < DROPOUT)] = 0
    return millimetres


def thermal(scene: "Scene", size: int) -> np.ndarray:
    """float32 Kelvin: ambient with a gradient, plus the class heat pattern over the (slightly
    diffused) silhouette, scaled by hot/cool; with cues="all" a fast object trails (sensor lag)."""
    rng = scene.rng(4)
    x, y, u, v = _frame(scene, size)
    ambient = rng.uniform(288.0, 298.0) + rng.uniform(-1.5, 1.5) * (x - 0.5) + rng.uniform(-1.5, 1.5) * (y - 0.5)
    k = max(1, size // 21)
    heat = _box_blur(_box_blur(_silhouette(scene, size), k, axis=0), k, axis=1)
    if scene.shows("thermal", "speed") and scene.high("speed"):
        heat = _smear(heat, size)
    pattern = _HEAT[scene.spec.heat_pattern](u, v, scene.spec.heat_freq)
    delta = scene.spec.delta_k * (0.35, 1.0)[scene.high("temperature")] * rng.uniform(0.9, 1.1)
    kelvin = ambient + delta * heat * pattern + scene.noise * rng.standard_normal((size, size))
    return kelvin.astype(np.float32)


def imu(scene: "Scene", seconds: float, rate: float) -> np.ndarray:
    """float32 rows (t, ax, ay, az, gx, gy, gz): gravity on +z (slightly tilted) plus the class
    vibration (frequency, axis, harmonic) whose amplitude follows size and frequency and rhythm speed;
    with cues="all" the vibration fades with distance and heat adds to the gyro bias."""
    rng = scene.rng(5)
    spec = scene.spec
    t = np.arange(round(seconds * rate)) / rate
    fast = scene.high("speed")
    freq = spec.vib_hz * VIB[fast] * rng.uniform(0.98, 1.02)
    amplitude = (0.5, 1.5)[scene.high("size")] * rng.uniform(0.85, 1.15)
    if scene.shows("imu", "distance") and scene.high("distance"):
        amplitude *= FAR_VIBRATION
    p = rng.uniform(0, 2 * math.pi, 4)
    envelope = amplitude * (0.6 + 0.4 * np.sin(2 * math.pi * (0.8, 2.5)[fast] * t + p[0]))
    vibration = envelope * (np.sin(2 * math.pi * freq * t + p[1])
                            + spec.vib_harmonic * np.sin(4 * math.pi * freq * t + p[2]))
    tilt = rng.normal(0, 0.05, 2)
    gravity = 9.81 * np.array([math.sin(tilt[0]), math.sin(tilt[1]), math.cos(tilt[0]) * math.cos(tilt[1])])
    accel = gravity + vibration[:, None] * np.asarray(spec.vib_axis)
    gyro = 0.2 * (envelope * np.sin(2 * math.pi * freq / 3 * t + p[3]))[:, None] * np.asarray(spec.gyro_axis)
    gyro = gyro + rng.normal(0, 0.01, 3)  # bias
    if scene.shows("imu", "temperature") and scene.high("temperature"):
        gyro = gyro + HOT_GYRO_BIAS
    noise = scene.noise * rng.standard_normal((t.size, 6)) * np.array([0.5] * 3 + [0.05] * 3)
    return np.column_stack([t, np.hstack([accel, gyro]) + noise]).astype(np.float32)
