"""Tests of the synthetic paired world: determinism, readable files, class and attribute signal."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from edgebind.errors import ConfigError
from edgebind.manifest import read_manifest
from edgebind.synthetic import ATTRIBUTES, CLASS_NAMES, SHOWS, WorldConfig, class_spec, make_world, render_sample, \
    sample_scene

CONFIG = WorldConfig()
N_TRAIN, N_TEST = 160, 80


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("worlds")
    seeds = {"a": 0, "b": 0, "other": 1}
    return {name: make_world(root / name, 12, WorldConfig(seed=seed)) for name, seed in seeds.items()}


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return [render_sample(sample_scene(i, CONFIG), CONFIG) for i in range(N_TRAIN + N_TEST)]


def test_same_seed_gives_byte_identical_files(worlds: dict[str, Path]) -> None:
    a, b = _hashes(worlds["a"].parent), _hashes(worlds["b"].parent)
    assert len(a) == 1 + 5 * 12 and a == b


def test_different_seed_gives_different_data(worlds: dict[str, Path]) -> None:
    a, other = _hashes(worlds["a"].parent), _hashes(worlds["other"].parent)
    assert a.keys() == other.keys()
    assert all(a[k] != other[k] for k in a if not k.startswith("manifest"))


def test_manifest_round_trip(worlds: dict[str, Path]) -> None:
    samples = read_manifest(worlds["a"])
    assert [s.id for s in samples] == [f"{i:06d}" for i in range(12)]
    for i, s in enumerate(samples):
        scene = sample_scene(i, CONFIG)
        assert all(s.has(m) for m in ("vision", "text", "audio", "depth", "thermal", "imu"))
        assert (s.label, s.caption, s.extra) == (scene.spec.name, scene.caption, {"attributes": scene.attributes})


def test_files_readable_with_standard_libraries(worlds: dict[str, Path]) -> None:
    sample = read_manifest(worlds["a"])[3]
    expected = render_sample(sample_scene(3, CONFIG), CONFIG)
    with Image.open(sample.inputs["vision"]) as im:
        assert im.mode == "RGB" and im.size == (64, 64)
        assert np.array_equal(np.asarray(im), expected["image"])
    with Image.open(sample.inputs["depth"]) as im:
        depth = np.asarray(im)
    assert depth.dtype == np.uint16 and np.array_equal(depth, expected["depth"])
    assert 0 < (depth == 0).mean() < 0.01 and 900 < np.median(depth) < 7000
    wave, rate = sf.read(sample.inputs["audio"], dtype="float32")
    assert rate == 16000 and wave.shape == (32000,) and sf.info(sample.inputs["audio"]).subtype == "PCM_16"
    np.testing.assert_allclose(wave, expected["audio"], atol=1 / 32767)
    kelvin = np.load(sample.inputs["thermal"])
    assert kelvin.dtype == np.float32 and kelvin.shape == (64, 64) and 280 < kelvin.min() < kelvin.max() < 340
    lines = sample.inputs["imu"].read_text().splitlines()
    assert lines[0] == "t,ax,ay,az,gx,gy,gz"
    imu = np.loadtxt(sample.inputs["imu"], delimiter=",", skiprows=1)
    assert imu.shape == (400, 7)
    np.testing.assert_allclose(np.diff(imu[:, 0]), 1 / 200, atol=1e-5)
    gravity = imu[:, 1:4].mean(axis=0)  # gravity on +z, slightly tilted
    assert abs(np.linalg.norm(gravity) - 9.81) < 0.3 and gravity[2] > 9.5


def test_captions_name_class_and_every_attribute(rendered: list[dict]) -> None:
    for sample in rendered[:40]:
        words = sample["caption"].replace(",", "").split()
        assert sample["label"] in words
        assert all(value in words for value in sample["attributes"].values())
    assert sample_scene(0).caption.startswith("a ") and "moving" in sample_scene(0).caption


def test_class_names_are_words_and_first_k_are_used() -> None:
    assert len(CLASS_NAMES) >= 12 and all(name.isalpha() and name.islower() for name in CLASS_NAMES)
    labels = {sample_scene(i, WorldConfig(num_classes=3)).spec.name for i in range(9)}
    assert labels == set(CLASS_NAMES[:3])


def _peak_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(wave.size, 1 / CONFIG.audio_rate)[spectrum.argmax()])


def test_audio_is_not_silent_and_peaks_differ_per_class(rendered: list[dict]) -> None:
    assert min(np.sqrt(np.mean(s["audio"] ** 2)) for s in rendered) > 0.02
    peaks = [np.median([_peak_hz(s["audio"]) for s in rendered[k::CONFIG.num_classes]])
             for k in range(CONFIG.num_classes)]
    assert np.all(np.diff(peaks) > 0)  # class fundamentals rise with the class index
    np.testing.assert_allclose(peaks, [class_spec(k).f0 for k in range(CONFIG.num_classes)], rtol=0.12)


def _image_features(rgb: np.ndarray) -> np.ndarray:
    hist, _ = np.histogramdd(rgb.reshape(-1, 3) // 64, bins=(4, 4, 4), range=[(0, 4)] * 3)
    return hist.ravel() / hist.sum()


def _audio_features(wave: np.ndarray) -> np.ndarray:
    spectrum, freqs = np.abs(np.fft.rfft(wave)), np.fft.rfftfreq(wave.size, 1 / CONFIG.audio_rate)
    bands = np.digitize(freqs, np.geomspace(80, 7200, 49))
    return np.log(np.bincount(bands, spectrum, minlength=50) + 1e-6)


def _foreground(mask: np.ndarray, values: np.ndarray, span: float) -> np.ndarray:
    """Histogram of `values` over the object plus the silhouette's box fill ratio and aspect ratio."""
    ys, xs = np.nonzero(mask)
    height, width = np.ptp(ys) + 1, np.ptp(xs) + 1
    hist, _ = np.histogram(values, bins=8, range=(0, span))
    return np.r_[hist / mask.sum(), mask.sum() / (height * width), width / height]


def _depth_features(mm: np.ndarray) -> np.ndarray:
    mask = (mm > 0) & (mm < 3800)
    relief = mm[mask] - np.percentile(mm[mask], 2)
    return _foreground(mask, relief, 300.0)


def _thermal_features(kelvin: np.ndarray) -> np.ndarray:
    heat = kelvin - np.median(kelvin)
    mask = heat > 0.3 * heat.max()
    return _foreground(mask, heat[mask] / heat.max(), 1.0)


def _imu_features(imu: np.ndarray) -> np.ndarray:
    spectrum = np.abs(np.fft.rfft(imu[:, 1:4] - imu[:, 1:4].mean(axis=0), axis=0))
    return np.log(np.add.reduceat(spectrum, np.arange(0, len(spectrum), 4), axis=0).ravel() + 1e-6)


FEATURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "image": _image_features, "audio": _audio_features, "depth": _depth_features,
    "thermal": _thermal_features, "imu": _imu_features,
}


@pytest.mark.parametrize("modality", FEATURES)
def test_each_modality_alone_predicts_the_class(rendered: list[dict], modality: str) -> None:
    """A nearest-class-mean classifier on simple features beats chance well on held-out samples."""
    features = np.stack([FEATURES[modality](s[modality]) for s in rendered])
    labels = np.arange(len(rendered)) % CONFIG.num_classes
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    mean, std = features[train].mean(0), features[train].std(0) + 1e-6
    features = (features - mean) / std
    centroids = np.stack([features[train][labels[train] == k].mean(0) for k in range(CONFIG.num_classes)])
    predicted = ((features[test][:, None] - centroids) ** 2).sum(-1).argmin(1)
    assert (predicted == labels[test]).mean() > 2.5 / CONFIG.num_classes


def _audio_pitch_ratio(s: dict) -> float:
    return _peak_hz(s["audio"]) / class_spec(CLASS_NAMES.index(s["label"])).f0


def _imu_vibration_ratio(s: dict) -> float:
    accel = s["imu"][:, 1:4] - s["imu"][:, 1:4].mean(axis=0)
    spectrum = np.abs(np.fft.rfft(accel, axis=0)).sum(axis=1)
    peak = np.fft.rfftfreq(len(accel), 1 / CONFIG.imu_rate_hz)[spectrum.argmax()]
    return peak / class_spec(CLASS_NAMES.index(s["label"])).vib_hz


# (attribute, statistic, sign): the statistic's mean over "high" samples (large, hot, fast, far)
# minus its mean over "low" samples has this sign, by more than 3 standard errors.
ATTRIBUTE_EFFECTS = [
    ("size", lambda s: ((s["depth"] > 0) & (s["depth"] < 3800)).mean(), +1),
    ("size", lambda s: (s["thermal"] > np.median(s["thermal"]) + 2).mean(), +1),
    ("size", lambda s: s["imu"][:, 1:4].std(axis=0).sum(), +1),
    ("size", _audio_pitch_ratio, -1),
    ("temperature", lambda s: s["thermal"].max() - np.median(s["thermal"]), +1),
    ("temperature", lambda s: np.percentile(s["image"][..., 0].astype(int) - s["image"][..., 2], 99), +1),
    ("speed", _imu_vibration_ratio, +1),
    ("speed", lambda s: np.abs(np.diff(s["image"].astype(int), axis=1)).max(), -1),
    ("distance", lambda s: np.percentile(s["depth"][s["depth"] > 0], 1), +1),
    ("distance", lambda s: np.sqrt(np.mean(s["audio"] ** 2)), -1),
]


@pytest.mark.parametrize("attribute, statistic, sign", ATTRIBUTE_EFFECTS)
def test_attributes_show_in_every_modality(rendered: list[dict], attribute: str, statistic, sign: int) -> None:
    high = np.array([s["attributes"][attribute] == ATTRIBUTES[attribute][1] for s in rendered])
    values = np.array([statistic(s) for s in rendered], dtype=float)
    effect = values[high].mean() - values[~high].mean()
    stderr = np.sqrt(values[high].var(ddof=1) / high.sum() + values[~high].var(ddof=1) / (~high).sum())
    assert sign * effect > 3 * stderr, (effect, stderr)


def _step_ratio(values: np.ndarray) -> float:
    """The largest step between horizontal neighbours over the largest between vertical ones, valid
    (non-zero) pixels only: a horizontal smear turns the object's left and right edges into ramps."""
    steps = []
    for axis in (1, 0):
        diff = np.abs(np.diff(values.astype(float), axis=axis))
        valid = (np.take(values, range(1, values.shape[axis]), axis=axis) > 0) & \
            (np.take(values, range(values.shape[axis] - 1), axis=axis) > 0)
        steps.append(diff[valid].max())
    return steps[0] / steps[1]


# The cues only a cues="all" world adds (world.SHOWS), with the same 3-standard-error rule.
ALL_CUE_EFFECTS = [
    ("temperature", "audio", lambda s: np.mean(np.diff(s["audio"]) ** 2) / np.mean(s["audio"] ** 2), +1),
    ("speed", "depth", lambda s: _step_ratio(s["depth"]), -1),
    ("temperature", "depth", lambda s: ((s["depth"] == 0).sum() / max(((s["depth"] > 0) & (s["depth"] < 3800)).sum(), 1)), +1),
    ("speed", "thermal", lambda s: _step_ratio(s["thermal"]), -1),
    ("distance", "imu", lambda s: s["imu"][:, 1:4].std(axis=0).sum(), -1),
    ("temperature", "imu", lambda s: s["imu"][:, 4:7].mean(), +1),
]


@pytest.fixture(scope="module")
def rendered_all_cues() -> list[dict]:
    config = WorldConfig(cues="all")
    return [render_sample(sample_scene(i, config), config) for i in range(N_TRAIN)]


@pytest.mark.parametrize("attribute, modality, statistic, sign", ALL_CUE_EFFECTS)
def test_with_all_cues_every_modality_shows_every_attribute(rendered: list[dict], rendered_all_cues: list[dict],
                                                             attribute: str, modality: str, statistic, sign: int) -> None:
    assert attribute not in SHOWS["partial"][modality] and attribute in SHOWS["all"][modality]
    high = np.array([s["attributes"][attribute] == ATTRIBUTES[attribute][1] for s in rendered_all_cues])
    values = np.array([statistic(s) for s in rendered_all_cues], dtype=float)
    effect = values[high].mean() - values[~high].mean()
    stderr = np.sqrt(values[high].var(ddof=1) / high.sum() + values[~high].var(ddof=1) / (~high).sum())
    assert sign * effect > 3 * stderr, (effect, stderr)


def test_the_added_cues_mark_only_high_attributes(rendered: list[dict], rendered_all_cues: list[dict]) -> None:
    # A small, cool, slow, near object renders alike in both worlds: the cues add to the default one.
    low = [i for i, s in enumerate(rendered_all_cues) if all(v == ATTRIBUTES[k][0] for k, v in s["attributes"].items())]
    assert len(low) >= 5
    for i in low:
        for key in ("image", "audio", "depth", "thermal", "imu"):
            assert np.array_equal(rendered[i][key], rendered_all_cues[i][key]), (i, key)


def test_cues_must_be_known() -> None:
    with pytest.raises(ConfigError, match="cues must be one of partial, all, got 'most'"):
        WorldConfig(cues="most")


@pytest.mark.parametrize(
    "kwargs", [{"num_classes": 0}, {"num_classes": len(CLASS_NAMES) + 1}, {"image_size": 4},
               {"num_classes": 16, "audio_rate": 4000}, {"num_classes": 16, "imu_rate_hz": 50.0}]
)
def test_invalid_config_raises(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        WorldConfig(**kwargs)


def _render_digest(config: WorldConfig, samples: int) -> str:
    digest = hashlib.sha256()
    for i in range(samples):
        data = render_sample(sample_scene(i, config), config)
        digest.update(repr((data["label"], data["caption"])).encode())
        for key in ("image", "audio", "depth", "thermal", "imu"):
            digest.update(data[key].tobytes())
    return digest.hexdigest()


def test_default_world_is_unchanged() -> None:
    """The shipped model and `edgebind reproduce` were made on this world: it must stay byte-identical."""
    assert _render_digest(WorldConfig(), 16) == "144fb4f4591438012d5042630d214f3c8c9e1bf5dfc2d086509ee6c0e72a80d0"
    assert WorldConfig(num_classes=5).class_names == CLASS_NAMES[:5]
    assert WorldConfig(5, 3) == WorldConfig(num_classes=5, seed=3)  # positional use (reproduce) unchanged


def test_signature_seed_draws_new_worlds_of_any_size() -> None:
    a, again, b = (WorldConfig(num_classes=24, signature_seed=s) for s in (1, 1, 2))
    assert a.class_names == again.class_names and len(set(a.class_names)) == 24
    assert a.class_names != b.class_names
    assert [a.spec(k) for k in range(24)] != [b.spec(k) for k in range(24)]
    for config in (a, b):  # every pair of classes differs in every modality
        specs = [config.spec(k) for k in range(24)]
        assert len({round(c.f0, 3) for c in specs}) == len({round(c.vib_hz, 3) for c in specs}) == 24
        assert len({(c.shape, c.relief) for c in specs}) == len({(c.shape, c.heat_pattern) for c in specs}) == 24
    scene = sample_scene(23, a)
    assert scene.spec.name == a.class_names[23] and scene.caption.split()[3] == a.class_names[23]
    assert _render_digest(a, 2) != _render_digest(b, 2)
    assert len(set(WorldConfig(num_classes=100, signature_seed=0).class_names)) == 100


def test_drawn_world_class_count_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="num_classes"):
        WorldConfig(num_classes=0, signature_seed=3)
