"""SUN RGB-D and NYU-Depth v2: RGB-D pairs labelled with the scene type.

SUN RGB-D, the SUNRGBD V1 release (`SUNRGBD.zip`); `root` is the `SUNRGBD` folder. Every scene
folder is a directory holding `intrinsics.txt`, found anywhere under the four sensor folders
(`kv1/NYUdata/NYU0001/`, `kv1/b3dodata/...`, `kv2/kinect2data/...`, `kv2/align_kv2/...`,
`realsense/{lg,sa,sh,shr}/...`, `xtion/sun3ddata/.../`, `xtion/xtion_align_data/...`). Read from it:
`image/<name>.jpg`, `<depth_folder>/<name>.png` (`depth` raw or `depth_bfx` filled), `scene.txt`
(the label, e.g. "bedroom") and `intrinsics.txt` (a 3 x 3 K matrix; its first value is fx).
The depth PNGs store millimetres bit-rotated; as in the SUN RGB-D toolbox (read3dPoints.m),
mm = (d >> 3) | (d << 13) in 16 bits, then depths beyond 8 m are set to 8 m. `split_file`
optionally lists scene folders, one per line, relative to `root` or as toolbox paths containing
`SUNRGBD/` (e.g. `/n/fs/sun3d/data/SUNRGBD/kv1/NYUdata/NYU0001`), which are cut after it.

NYU-Depth v2 labelled set, extracted to folders (the layout of the common BTS/`official_splits`
extraction): `<root>/<split>/<scene>/rgb_XXXXX.jpg` with `sync_depth_XXXXX.png` or
`depth_XXXXX.png` in 16-bit millimetres. The label is the scene folder name without a trailing
`_NNNN` (bedroom_0004 -> bedroom). `nyu_depth_v2_labeled.mat` itself is not read: extract it.

Records: inputs["vision"] = image path, inputs["depth"] = H x W uint16 millimetres. The depth
transform needs the camera: each sample's depth is a DepthFrame with its (baseline_m, focal_px), fx from
intrinsics.txt (NYU: Kinect v1, 518.857 px) and the baseline per sensor folder
(kv1/kv2 0.075 m, realsense/xtion 0.095 m, the values Omnivore/ImageBind users take).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from edgebind.transforms.depth import CAMERA_PRESETS, DepthFrame
from edgebind.transforms.io import read_depth_file

from edgebind.sample import Sample
from .skip import DATASETS, DEFAULT_MAX_SKIP_FRACTION, SkippingDataset

SENSOR_BASELINES_M = {"kv1": 0.075, "kv2": 0.075, "realsense": 0.095, "xtion": 0.095}
SUN_MAX_DEPTH_MM = 8000
NYU_DEPTH_PREFIXES = ("sync_depth_", "depth_")


def unrotate_sunrgbd_depth(raw: np.ndarray) -> np.ndarray:
    """SUN RGB-D PNG values -> uint16 millimetres: undo the 3-bit rotation, clamp at 8 m."""
    raw = raw.astype(np.uint16)
    mm = (raw >> np.uint16(3)) | (raw << np.uint16(13))
    return np.minimum(mm, np.uint16(SUN_MAX_DEPTH_MM))


@dataclass(frozen=True)
class DepthEntry:
    """One RGB-D pair: record id, labels, files and the camera's (baseline_m, focal_px)."""

    id: str
    labels: tuple[str, ...]
    image: Path
    depth: Path
    camera: tuple[float, float]


class DepthDataset(SkippingDataset[DepthEntry]):
    """RGB-D samples whose depth is a DepthFrame carrying the camera that took it, so disparity
    is right for every sensor of a mixed data set."""

    def _load(self, entry: DepthEntry) -> Sample:
        depth = DepthFrame(self._read_depth(entry.depth), *entry.camera)
        inputs = {"vision": entry.image, "depth": depth}
        return Sample(entry.id, entry.labels, None, inputs)

    def _read_depth(self, path: Path) -> np.ndarray:
        return read_depth_file(path)


def _only_file(folder: Path, suffix: str) -> Optional[Path]:
    """The first file (by name) with `suffix` in `folder`, or None."""
    if not folder.is_dir():
        return None
    return next((f for f in sorted(folder.iterdir()) if f.suffix.lower() == suffix and f.is_file()), None)


@DATASETS.register("sunrgbd")
class SUNRGBD(DepthDataset):
    """SUN RGB-D V1 scenes (all, or those listed in `split_file`)."""

    name = "sunrgbd"
    layout = "kv1/ kv2/ realsense/ xtion/ scene folders with image/, depth/, intrinsics.txt, scene.txt"

    def __init__(
        self,
        root: "str | Path",
        split_file: "str | Path | None" = None,
        depth_folder: str = "depth",
        max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION,
    ) -> None:
        self.root = Path(root)
        self.split_file = None if split_file is None else Path(split_file)
        self.depth_folder = depth_folder
        super().__init__(max_skip_fraction)

    def _read_depth(self, path: Path) -> np.ndarray:
        return unrotate_sunrgbd_depth(read_depth_file(path))

    def _scene_dirs(self) -> Iterator[Path]:
        if self.split_file is not None:
            for line in self.split_file.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    yield self.root / line.rpartition("SUNRGBD/")[2].strip("/")
            return
        for folder, dirs, files in os.walk(self.root):
            dirs.sort()
            if "intrinsics.txt" in files:
                dirs.clear()
                yield Path(folder)

    def _scan(self) -> Iterator[DepthEntry]:
        for scene in self._scene_dirs():
            rel = scene.relative_to(self.root).as_posix()
            sensor = rel.split("/")[0]
            image = _only_file(scene / "image", ".jpg")
            depth = _only_file(scene / self.depth_folder, ".png")
            if not scene.is_dir():
                self._skip("missing scene", str(scene))
            elif sensor not in SENSOR_BASELINES_M:
                self._skip("unknown sensor", f"{rel}: not under {', '.join(SENSOR_BASELINES_M)}")
            elif image is None or depth is None:
                self._skip("missing image or depth", f"{rel}: no image/*.jpg or {self.depth_folder}/*.png")
            else:
                try:
                    label = (scene / "scene.txt").read_text(encoding="utf-8").strip()
                    focal = float((scene / "intrinsics.txt").read_text(encoding="utf-8").split()[0])
                except (OSError, UnicodeDecodeError, ValueError, IndexError) as exc:
                    self._skip("bad scene.txt or intrinsics.txt", f"{rel}: {exc}")
                    continue
                if not label or not focal > 0:
                    self._skip("bad scene.txt or intrinsics.txt", f"{rel}: label {label!r}, fx {focal}")
                    continue
                yield DepthEntry(rel, (label,), image, depth, (SENSOR_BASELINES_M[sensor], focal))


def nyu_scene_type(folder: str) -> str:
    """NYU scene folder -> scene type: 'living_room_0038' -> 'living_room', 'basement_0001a' -> 'basement'."""
    return re.sub(r"_\d+[a-z]?$", "", folder)


@DATASETS.register("nyuv2")
class NYUDepthV2(DepthDataset):
    """NYU-Depth v2 RGB-D frames from extracted folders; split=None reads `root` directly."""

    name = "nyuv2"
    layout = "<split>/<scene>/rgb_XXXXX.jpg with sync_depth_XXXXX.png (or depth_XXXXX.png) in mm"

    def __init__(
        self,
        root: "str | Path",
        split: Optional[str] = "train",
        max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION,
    ) -> None:
        self.root = Path(root) / split if split else Path(root)
        self.split = split
        super().__init__(max_skip_fraction)

    def _scan(self) -> Iterator[DepthEntry]:
        for image in sorted(self.root.glob("*/rgb_*.jpg")):
            number = image.stem.removeprefix("rgb_")
            depths = [image.parent / f"{prefix}{number}.png" for prefix in NYU_DEPTH_PREFIXES]
            depth = next((d for d in depths if d.is_file()), None)
            if depth is None:
                self._skip("missing depth", str(depths[0]))
                continue
            scene = image.parent.name
            labels = (nyu_scene_type(scene),)
            yield DepthEntry(f"{scene}/{number}", labels, image, depth, CAMERA_PRESETS["kinect_v1"])
