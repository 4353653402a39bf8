"""Tests of the manifest.jsonl data-set format: round trip, relative paths, validation errors."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgebind.errors import InputError, UnreadableFileError
from edgebind.manifest import read_manifest, write_manifest
from edgebind.sample import Sample
from edgebind.modality import Modality

ROWS = [
    {"id": "a", "label": "dog", "caption": "a dog", "image": "img/a.png", "audio": "snd/a.wav",
     "attributes": {"size": "large"}},
    {"id": "b", "label": None, "caption": None, "image": None, "imu": "imu/b.csv"},
    {"id": "c", "depth": "c.png", "thermal": "c.npy"},
]


def _touch_files(root: Path) -> None:
    for row in ROWS:
        for key in ("image", "audio", "depth", "thermal", "imu"):
            if row.get(key):
                (root / row[key]).parent.mkdir(parents=True, exist_ok=True)
                (root / row[key]).write_bytes(b"x")


def _write_lines(root: Path, *lines: str) -> Path:
    path = root / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    _touch_files(tmp_path)
    return write_manifest(tmp_path / "manifest.jsonl", ROWS)


def test_round_trip_keeps_rows_and_extra_keys(dataset: Path) -> None:
    samples = read_manifest(dataset)
    assert [s.id for s in samples] == ["a", "b", "c"]
    a = samples[0]
    assert (a.label, a.caption, a.extra) == ("dog", "a dog", {"attributes": {"size": "large"}})
    rewritten = dataset.parent / "copy.jsonl"
    write_manifest(rewritten, samples)
    assert read_manifest(rewritten) == samples


def test_paths_are_absolute_and_relative_to_the_manifest(dataset: Path) -> None:
    a = read_manifest(dataset)[0]
    assert a.inputs == {"vision": dataset.parent / "img/a.png", "audio": dataset.parent / "snd/a.wav"}
    assert all(p.is_absolute() for p in a.inputs.values())
    assert json.loads(dataset.read_text().splitlines()[0])["image"] == "img/a.png"


def test_absent_and_null_modalities(dataset: Path) -> None:
    a, b, c = read_manifest(dataset)
    assert a.has(Modality.VISION) and a.has("image") and a.has("text") and not a.has("depth")
    assert not b.has("vision") and not b.has("text") and b.has(Modality.IMU) and b.label is None
    assert c.has("depth") and c.has("thermal") and not c.has("audio")


def test_directory_path_and_blank_lines(tmp_path: Path) -> None:
    _write_lines(tmp_path, '{"id": "x"}', "", '{"id": "y", "caption": "hi"}')
    assert [s.id for s in read_manifest(tmp_path)] == ["x", "y"]


def test_write_relativizes_absolute_paths(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"x")
    path = write_manifest(tmp_path / "m.jsonl", [
        {"id": "a", "audio": tmp_path / "a.wav"},
        Sample("b", inputs={"audio": tmp_path / "a.wav"}),
    ])
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["audio"] for r in rows] == ["a.wav", "a.wav"]
    assert read_manifest(path)[1].inputs["audio"] == tmp_path / "a.wav"


def test_write_is_atomic_and_validates(dataset: Path) -> None:
    before = dataset.read_text()
    with pytest.raises(InputError, match=re.escape(f"{dataset}: row 2: duplicate id 'a'")):
        write_manifest(dataset, [{"id": "a"}, {"id": "a"}])
    no_id = f'{dataset}: row 1: every row needs a non-empty string "id"'
    with pytest.raises(InputError, match=re.escape(no_id)):
        write_manifest(dataset, [{"label": "no id"}])
    assert dataset.read_text() == before
    assert not [p for p in dataset.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "bad_line, error, message",
    [
        ('{"id": "b", ', UnreadableFileError, "invalid JSON"),
        ('["not", "an", "object"]', InputError, "JSON object"),
        ('{"label": "dog"}', InputError, '"id"'),
        ('{"id": 7}', InputError, '"id"'),
        ('{"id": "a"}', InputError, "duplicate id 'a' \\(first on line 1\\)"),
        ('{"id": "b", "audio": 5}', InputError, '"audio" must be a string or null, got int'),
        ('{"id": "b", "caption": ["x"]}', InputError, '"caption" must be a string'),
        ('{"id": "b", "depth": "d.png", "depth_camera": [0.05, 383]}', InputError,
         '"depth_camera" must be \\{"baseline_m": number, "focal_px": number\\}'),
        ('{"id": "b", "depth": "d.png", "depth_camera": {"baseline_m": 0, "focal_px": 383}}', InputError,
         "sample 'b': depth frame: baseline_m and focal_px must be finite and > 0"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, bad_line: str, error: type, message: str) -> None:
    path = _write_lines(tmp_path, '{"id": "a"}', bad_line)
    with pytest.raises(error, match=message) as info:
        read_manifest(path)
    assert f"{path}:2" in str(info.value)


def test_missing_file_is_an_error_only_when_checked(tmp_path: Path) -> None:
    path = _write_lines(tmp_path, '{"id": "s1", "depth": "depth/s1.png"}')
    with pytest.raises(UnreadableFileError) as info:
        read_manifest(path)
    assert "'s1'" in str(info.value) and str(tmp_path / "depth/s1.png") in str(info.value)
    assert read_manifest(path, check_files=False)[0].inputs["depth"] == tmp_path / "depth/s1.png"


def test_missing_manifest(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(UnreadableFileError, match=re.escape(f"cannot read manifest {path}")):
        read_manifest(path)


def test_a_rows_depth_camera_travels_with_its_depth_file(tmp_path: Path) -> None:
    from edgebind.frames import DepthFrame

    (tmp_path / "d.png").write_bytes(b"x")
    camera = '"depth_camera": {"baseline_m": 0.05, "focal_px": 383}'
    path = _write_lines(tmp_path, '{"id": "s", "depth": "d.png", ' + camera + "}")
    (sample,) = read_manifest(path)
    assert sample.inputs["depth"] == DepthFrame(tmp_path / "d.png", 0.05, 383.0)
    assert "depth_camera" not in sample.extra
    rewritten = write_manifest(tmp_path / "copy" / "manifest.jsonl", [sample])
    row = json.loads(rewritten.read_text())
    assert row["depth"] == str(tmp_path / "d.png") and row["depth_camera"] == {"baseline_m": 0.05, "focal_px": 383.0}
    (tmp_path / "d.png").unlink()
    with pytest.raises(UnreadableFileError, match="depth file .*d.png does not exist"):
        read_manifest(path)
