"""The on-disk data-set format shared by training, evaluation and users' own recordings.

`manifest.jsonl` holds one JSON object per sample: {"id", "label", "caption", "image", "audio",
"depth", "thermal", "imu", ...}. Modality keys may be absent or null; file paths are relative to the
manifest's directory; any other key (e.g. "attributes") is kept in `Sample.extra`. Rows are read
into `edgebind.sample.Sample`, whose `inputs` are then the absolute file paths. A row's optional
"depth_camera" ({"baseline_m", "focal_px"}, e.g. from a recorded camera) makes its depth input a
`DepthFrame` of that file, so the depth transform uses the camera that took it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from edgebind.errors import InputError, UnreadableFileError
from edgebind.fileio import atomic_write
from edgebind.frames import DepthFrame
from edgebind.modality import Modality
from edgebind.sample import Sample

MANIFEST_NAME = "manifest.jsonl"

# Manifest key -> modality whose file it names (text lives in "caption", not in a file).
FILE_KEYS: dict[str, Modality] = {
    "image": Modality.VISION,
    "audio": Modality.AUDIO,
    "depth": Modality.DEPTH,
    "thermal": Modality.THERMAL,
    "imu": Modality.IMU,
}
_TEXT_KEYS = ("label", "caption")
DEPTH_CAMERA = "depth_camera"


def input_file(raw: Any) -> Path:
    """The file behind a manifest sample's input (a path, or a DepthFrame of one)."""
    return Path(raw.depth if isinstance(raw, DepthFrame) else raw)


def to_row(sample: Sample, base_dir: "str | Path") -> dict[str, Any]:
    """`sample` as a manifest row, with paths under `base_dir` written relative to it."""
    if len(sample.labels) > 1:
        raise InputError(f"sample {sample.id!r} has {len(sample.labels)} labels; a manifest row holds one")
    row: dict[str, Any] = {"id": sample.id, "label": sample.label, "caption": sample.caption}
    for key, modality in FILE_KEYS.items():
        if modality.value in sample.inputs:
            raw = sample.inputs[modality.value]
            row[key] = _relative(input_file(raw), Path(base_dir))
            if isinstance(raw, DepthFrame):
                row[DEPTH_CAMERA] = {"baseline_m": raw.baseline_m, "focal_px": raw.focal_px}
    return {**row, **sample.extra}


def _relative(path: "str | Path", base_dir: Path) -> str:
    """`path` as a POSIX string, relative to `base_dir` when it is absolute and lies under it."""
    path, base = Path(path), base_dir.resolve()
    if not path.is_absolute():
        return path.as_posix()
    path = path.resolve()
    return (path.relative_to(base) if path.is_relative_to(base) else path).as_posix()


def _parse_row(row: Any, base_dir: Path, where: str) -> Sample:
    """Validate one decoded row and turn it into a Sample; `where` is "file:line" for messages."""
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected a JSON object per line, got {type(row).__name__}")
    sample_id = row.get("id")
    if not isinstance(sample_id, str) or not sample_id:
        raise InputError(f'{where}: every row needs a non-empty string "id", got {sample_id!r}')
    for key in (*_TEXT_KEYS, *FILE_KEYS):
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            raise InputError(
                f'{where}: sample {sample_id!r}: "{key}" must be a string or null, '
                f"got {type(value).__name__}"
            )
    paths: dict[str, Any] = {m.value: base_dir / row[k] for k, m in FILE_KEYS.items() if row.get(k) is not None}
    if row.get(DEPTH_CAMERA) is not None and "depth" in paths:
        paths["depth"] = _depth_frame(paths["depth"], row[DEPTH_CAMERA], f"{where}: sample {sample_id!r}")
    extra = {k: v for k, v in row.items() if k not in ("id", *_TEXT_KEYS, *FILE_KEYS, DEPTH_CAMERA)}
    labels = (row["label"],) if row.get("label") else ()
    return Sample(sample_id, labels, row.get("caption"), paths, extra)


def _depth_frame(path: Path, camera: Any, where: str) -> DepthFrame:
    """The depth file with the row's own camera calibration."""
    if not (isinstance(camera, dict) and set(camera) == {"baseline_m", "focal_px"}
            and all(isinstance(v, (int, float)) for v in camera.values())):
        raise InputError(f'{where}: "{DEPTH_CAMERA}" must be {{"baseline_m": number, "focal_px": number}}, '
                         f"got {camera!r}")
    try:
        return DepthFrame(path, float(camera["baseline_m"]), float(camera["focal_px"]))
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _manifest_file(path: "str | Path") -> Path:
    """Accept a manifest file or the directory holding `manifest.jsonl`."""
    path = Path(path)
    return path / MANIFEST_NAME if path.is_dir() else path


def read_manifest(path: "str | Path", check_files: bool = True) -> list[Sample]:
    """Read and validate a manifest; with `check_files`, every referenced file must exist."""
    path = _manifest_file(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableFileError(f"cannot read manifest {path}: {exc}") from exc
    base_dir = path.parent.resolve()
    samples: list[Sample] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UnreadableFileError(f"{where}: invalid JSON ({exc.msg}); fix or remove the line") from None
        sample = _parse_row(row, base_dir, where)
        if sample.id in first_line:
            raise InputError(
                f"{where}: duplicate id {sample.id!r} (first on line {first_line[sample.id]}); ids must be unique"
            )
        first_line[sample.id] = number
        if check_files:
            for modality, raw in sample.inputs.items():
                if not (file := input_file(raw)).is_file():
                    raise UnreadableFileError(
                        f"{where}: sample {sample.id!r}: {modality} file {file} does not exist"
                    )
        samples.append(sample)
    return samples


def write_manifest(path: "str | Path", samples: Iterable["Mapping[str, Any] | Sample"]) -> Path:
    """Validate rows and write them atomically (edgebind.fileio.atomic_write)."""
    path = _manifest_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base_dir = path.parent.resolve()
    lines: list[str] = []
    seen: set[str] = set()
    for number, sample in enumerate(samples, start=1):
        row = to_row(sample, base_dir) if isinstance(sample, Sample) else dict(sample)
        row.update({k: _relative(v, base_dir) for k, v in row.items() if k in FILE_KEYS and isinstance(v, Path)})
        sample_id = _parse_row(row, base_dir, f"{path}: row {number}").id
        if sample_id in seen:
            raise InputError(f"{path}: row {number}: duplicate id {sample_id!r}; ids must be unique")
        seen.add(sample_id)
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    return atomic_write(path, lambda tmp: Path(tmp).write_text("".join(lines), encoding="utf-8"))
