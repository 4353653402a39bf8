"""IMU transform: channel layout (transpose, never reshape), resampling, crop/pad, CSV and errors."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from edgebind.errors import ConfigError, InputError, UnreadableFileError
from edgebind.transforms.imu import ImuConfig, ImuTransform
from edgebind.transforms.io import read_imu_file

G = 9.80665
SCALES = np.array([G, G, G, 1.0, 1.0, 1.0])


def unscale(out: torch.Tensor) -> np.ndarray:
    """Undo the default accel/gyro scaling of a [6, T] output."""
    return out.numpy().astype(np.float64) * SCALES[:, None]


def write_csv(path, times: np.ndarray, data: np.ndarray) -> None:
    rows = np.column_stack([times, data])
    np.savetxt(path, rows, delimiter=",", header="t,ax,ay,az,gx,gy,gz", comments="", fmt="%.9f")


def test_each_channel_lands_in_its_own_row():
    data = np.tile(np.arange(1, 7, dtype=np.float64), (2000, 1))  # column j holds j + 1
    out = ImuTransform()(data)
    assert out.shape == (6, 2000) and out.dtype == torch.float32
    for j in range(6):
        assert np.allclose(unscale(out)[j], j + 1)


def test_transpose_not_reshape_regression():
    t = np.arange(2000, dtype=np.float64)
    data = np.stack([1000 * j + t for j in range(6)], axis=1)
    out = unscale(ImuTransform()(data))
    assert np.allclose(out, data.T, rtol=1e-6)
    assert not np.allclose(out, data.reshape(6, 2000), rtol=1e-6)


def test_scaling_of_accel_and_gyro_groups():
    data = np.ones((2000, 6))
    out = ImuTransform({"accel_scale": 2.0, "gyro_scale": 4.0})(data)
    assert torch.allclose(out[:3], torch.tensor(0.5)) and torch.allclose(out[3:], torch.tensor(0.25))


def test_resample_100hz_to_200hz_sine():
    t = np.arange(1000) / 100.0
    data = np.zeros((1000, 6))
    data[:, 4] = np.sin(2 * np.pi * t)
    out = ImuTransform({"length": 1999})((data, 100.0))
    grid = np.arange(1999) / 200.0
    assert np.allclose(out[4].numpy(), np.sin(2 * np.pi * grid), atol=1e-3)
    assert torch.all(out[[0, 1, 2, 3, 5]] == 0)


def test_target_rate_passes_through_unchanged():
    data = np.random.default_rng(0).standard_normal((2000, 6))
    expected = torch.from_numpy((data / SCALES).T.astype(np.float32))
    assert torch.equal(ImuTransform()(data), expected)
    assert torch.equal(ImuTransform()((data, 200)), expected)


def test_csv_round_trip(tmp_path):
    data = np.random.default_rng(1).standard_normal((2000, 6))
    times = 5.0 + np.arange(2000) / 200.0
    write_csv(tmp_path / "imu.csv", times, data)
    read, rate, stamps = read_imu_file(tmp_path / "imu.csv")
    assert read.shape == (2000, 6) and np.allclose(read, data) and np.allclose(stamps, times)
    assert rate == pytest.approx(200.0)
    assert torch.allclose(ImuTransform()(tmp_path / "imu.csv"), ImuTransform()(data), atol=1e-6)
    np.save(tmp_path / "imu.npy", data)
    assert torch.equal(ImuTransform()(str(tmp_path / "imu.npy")), ImuTransform()(data))


def test_csv_non_uniform_timestamps_are_interpolated(tmp_path):
    times = np.sort(np.random.default_rng(2).uniform(0, 10, 1500))
    data = np.zeros((1500, 6))
    data[:, 0] = 3.0 * times  # linear signal: interpolation is exact
    write_csv(tmp_path / "jitter.csv", times, data)
    out = ImuTransform({"length": 100, "crop": "center"})(tmp_path / "jitter.csv")
    count = int(np.floor((times[-1] - times[0]) * 200)) + 1
    grid = times[0] + (np.arange(count) / 200.0)[(count - 100) // 2 :][:100]
    assert np.allclose(out[0].numpy() * G, 3.0 * grid, atol=1e-4)


def test_short_recordings_are_padded():
    data = np.tile(np.arange(1.0, 11.0)[:, None], (1, 6))  # 10 samples valued 1..10
    edge = unscale(ImuTransform({"length": 16})(data))[0]
    assert np.allclose(edge, [1] * 6 + list(range(1, 11)))  # crop="last": pad before, newest last
    zero = unscale(ImuTransform({"length": 16, "pad": "zero", "crop": "center"})(data))[0]
    assert np.allclose(zero, [0] * 3 + list(range(1, 11)) + [0] * 3)


def test_long_recordings_are_cropped_per_policy():
    data = np.tile(np.arange(1.0, 21.0)[:, None], (1, 6))
    assert np.allclose(unscale(ImuTransform({"length": 5})(data))[0], range(16, 21))
    assert np.allclose(unscale(ImuTransform({"length": 5, "crop": "center"})(data))[0], range(8, 13))


def test_batch_matches_single(tmp_path):
    write_csv(tmp_path / "imu.csv", np.arange(300) / 100.0, np.ones((300, 6)))
    items = [tmp_path / "imu.csv", np.zeros((50, 6)), (np.ones((4000, 6)), 400.0)]
    tf = ImuTransform()
    batch = tf.batch(items)
    assert batch.shape == (3, 6, 2000)
    for i, item in enumerate(items):
        assert torch.equal(batch[i], tf(item))


@pytest.mark.parametrize(
    "item, message",
    [
        (np.zeros((6, 2000)), r"transpose, arr\.T"),
        (np.zeros((100, 3)), "expected T x 6"),
        (np.zeros(600), "expected T x 6"),
        (np.zeros((0, 6)), "empty"),
        (np.array([[np.nan] * 6]), "NaN"),
        (np.array([[np.inf] * 6]), "NaN or inf"),
        ((np.zeros((10, 6)), 0), "> 0"),
        ((np.zeros((10, 6)), -5.0), "> 0"),
        ((np.zeros((10, 6)), "200"), "number"),
        ((np.zeros((10, 6)),), "(array, rate_hz)"),
        (np.zeros((10, 6), bool), "dtype"),
        (np.zeros((10, 6), np.complex64), "dtype"),
        ("imu.json", r"unsupported file type '\.json' for imu\.json"),
    ],
)
def test_bad_inputs_raise_input_error(item, message):
    with pytest.raises(InputError, match=message):
        ImuTransform()(item)


def test_bad_csv_files(tmp_path):
    write_csv(tmp_path / "back.csv", np.array([0.0, 0.01, 0.005]), np.zeros((3, 6)))
    (tmp_path / "nohead.csv").write_text("0,1,2,3,4,5,6\n")
    (tmp_path / "cols.csv").write_text("t,ax,ay,az,gx,gy,gz\n0,1,2,3\n")
    (tmp_path / "text.csv").write_text("t,ax,ay,az,gx,gy,gz\n0,a,b,c,d,e,f\n")
    (tmp_path / "empty.csv").write_text("t,ax,ay,az,gx,gy,gz\n")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x81garbage")
    for name, error, message in [
        ("back", InputError, "imu: timestamps in {path} must strictly increase"),
        ("nohead", UnreadableFileError, "imu: {path} must start with the header line t,ax,ay,az,gx,gy,gz"),
        ("cols", UnreadableFileError, "imu: every row of {path} needs 7 values"),
        ("text", UnreadableFileError, "imu: {path} has a non-numeric or ragged row"),
        ("empty", InputError, "imu: {path} has a header but no samples"),
        ("binary", UnreadableFileError, "imu: cannot read {path} as a text CSV file"),
        ("missing", UnreadableFileError, "imu: file not found: {path}; check the path"),
    ]:
        path = tmp_path / f"{name}.csv"
        with pytest.raises(error, match=re.escape(message.format(path=path))):
            ImuTransform()(path)


def test_bad_config():
    with pytest.raises(ConfigError, match="crop"):
        ImuConfig(crop="first")
    with pytest.raises(ConfigError, match="rate_hz"):
        ImuTransform({"rate_hz": 0})


@pytest.mark.parametrize("unit, scale", [("ms", 1e3), ("us", 1e6), ("ns", 1e9)])
def test_timestamps_in_other_units_are_detected_and_said(tmp_path, caplog, unit, scale):
    """A 200 Hz log stamped in ms reads 0.2 Hz as seconds: auto takes the unit that makes it a
    plausible IMU rate, and says so; naming the unit gives the same tensor silently."""
    data = np.random.default_rng(3).standard_normal((600, 6))
    seconds = 2.0 + np.arange(600) / 200.0
    write_csv(tmp_path / "s.csv", seconds, data)
    write_csv(tmp_path / f"{unit}.csv", seconds * scale, data)
    expected = ImuTransform()(tmp_path / "s.csv")
    with caplog.at_level("WARNING", logger="edgebind.transforms.io"):
        auto = ImuTransform()(tmp_path / f"{unit}.csv")
    assert f"{tmp_path / f'{unit}.csv'}: timestamps read as {unit}" in caplog.text
    assert torch.allclose(auto, expected, atol=1e-5)
    caplog.clear()
    assert torch.allclose(ImuTransform({"time_unit": unit})(tmp_path / f"{unit}.csv"), expected, atol=1e-5)
    assert not caplog.text


def test_fast_logs_in_seconds_stay_seconds_and_nonsense_rates_fail(tmp_path, caplog):
    data = np.random.default_rng(4).standard_normal((3000, 6))
    write_csv(tmp_path / "khz.csv", np.arange(3000) / 1000.0, data)
    with caplog.at_level("WARNING"):
        assert read_imu_file(tmp_path / "khz.csv")[1] == pytest.approx(1000.0)
    assert not caplog.text
    write_csv(tmp_path / "days.csv", np.arange(3000) * 1e12, data)  # no unit makes this an IMU rate
    with pytest.raises(InputError, match=r"days.csv: the timestamps imply .* no plausible IMU rate"):
        ImuTransform()(tmp_path / "days.csv")
    with pytest.raises(ConfigError, match="time_unit"):
        ImuConfig(time_unit="minutes")
