"""Image-based data-set adapters on tiny trees in their real layouts: manifest, SUN RGB-D, NYU, LLVIP."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import torch
import pytest
from PIL import Image

from edgebind.errors import ConfigError, InputError
from edgebind.training.data.llvip import LLVIP
from edgebind.training.data.manifest import ManifestDataset
from edgebind.training.data.registry import open_dataset
from edgebind.training.data.skip import SkipSample, iter_records
from edgebind.training.data.sunrgbd import SUNRGBD, NYUDepthV2, unrotate_sunrgbd_depth


def save_image(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def rgb(value: int = 100) -> np.ndarray:
    return np.full((8, 10, 3), value, np.uint8)


# --- manifest -------------------------------------------------------------------------------

def make_manifest(root: Path) -> Path:
    save_image(root / "a.png", rgb())
    save_image(root / "b.png", rgb())
    save_image(root / "c.png", rgb())
    (root / "a.wav").write_bytes(b"RIFF")
    rows = [
        {"id": "a", "label": "dog", "caption": "a dog", "image": "a.png", "audio": "a.wav"},
        {"id": "b", "label": "cat", "image": "b.png", "audio": "missing.wav"},
        {"id": "c", "label": None, "image": "c.png"},
    ]
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_manifest_records_and_missing_files(tmp_path):
    data = ManifestDataset(make_manifest(tmp_path), max_skip_fraction=0.5)
    assert len(data) == 2 and data.skipped == {"missing audio file": 1}
    first = data[0]
    assert first.id == "a" and first.labels == ("dog",) and first.caption == "a dog"
    assert first.inputs == {"vision": tmp_path / "a.png", "audio": tmp_path / "a.wav"}
    assert data[1].labels == () and data.classes == ("dog",)


def test_manifest_modalities_filter(tmp_path):
    make_manifest(tmp_path)
    vision = ManifestDataset(tmp_path / "manifest.jsonl", modalities=["image"])
    assert [r.id for r in iter_records(vision)] == ["a", "b", "c"]
    assert all(set(r.inputs) == {"vision"} for r in iter_records(vision))
    assert not vision.skipped and vision.classes == ("cat", "dog")
    captioned = ManifestDataset(tmp_path, modalities=["vision", "text"])
    assert [r.id for r in iter_records(captioned)] == ["a"]


def test_skip_limit_raises_with_reasons(tmp_path):
    expected = (f"skipped 1 of 3 samples: missing audio file x1 (e.g. {tmp_path / 'missing.wav'}); "
                f"that is more than max_skip_fraction=0.05 of {tmp_path / 'manifest.jsonl'}")
    with pytest.raises(InputError, match=re.escape(expected)):
        ManifestDataset(make_manifest(tmp_path))
    with pytest.raises(ConfigError, match=re.escape("max_skip_fraction must be in [0, 1], got 1.5")):
        ManifestDataset(tmp_path, max_skip_fraction=1.5)


# --- SUN RGB-D ------------------------------------------------------------------------------

def rotate(mm: np.ndarray) -> np.ndarray:
    """How SUN RGB-D stores depth: millimetres rotated left by 3 bits in 16 bits."""
    mm = mm.astype(np.uint32)
    return (((mm << 3) | (mm >> 13)) & 0xFFFF).astype(np.uint16)


MM = np.array([[0, 1, 500, 1234], [7999, 8000, 8191, 9000]], np.uint16)


def make_scene(root: Path, rel: str, label: str, fx: float = 529.5, depth=MM) -> Path:
    scene = root / rel
    save_image(scene / "image" / "0001.jpg", rgb())
    save_image(scene / "depth" / "0001.png", rotate(depth))
    (scene / "scene.txt").write_text(label + "\n")
    (scene / "intrinsics.txt").write_text(f"{fx} 0 320.5\n0 {fx} 240.5\n0 0 1\n")
    return scene


def test_sunrgbd_layout_rotation_and_camera(tmp_path):
    make_scene(tmp_path, "kv1/NYUdata/NYU0001", "bedroom", fx=518.857)
    make_scene(tmp_path, "kv2/kinect2data/000002_2014-05-26", "kitchen", fx=365.0)
    make_scene(tmp_path, "realsense/lg/2014_10_24-11_31_42-1311000073", "office")
    make_scene(tmp_path, "xtion/sun3ddata/brown_bm_1/brown_bm_1/0000001", "bedroom", fx=570.3)
    (tmp_path / "kv1/NYUdata/NYU0001/annotation").mkdir()  # sub-folders are not scenes
    data = SUNRGBD(tmp_path)
    assert [r.id for r in iter_records(data)] == [
        "kv1/NYUdata/NYU0001", "kv2/kinect2data/000002_2014-05-26",
        "realsense/lg/2014_10_24-11_31_42-1311000073", "xtion/sun3ddata/brown_bm_1/brown_bm_1/0000001",
    ]
    assert data.classes == ("bedroom", "kitchen", "office")
    record = data[0]
    assert record.labels == ("bedroom",) and record.inputs["vision"].name == "0001.jpg"
    depth = record.inputs["depth"].depth
    assert depth.dtype == np.uint16
    np.testing.assert_array_equal(depth, np.minimum(MM, 8000))  # rotation undone, > 8 m clamped
    cameras = [(0.075, 518.857), (0.075, 365.0), (0.095, 529.5), (0.095, 570.3)]
    assert [(f.baseline_m, f.focal_px) for f in (data[i].inputs["depth"] for i in range(4))] == cameras


def test_unrotate_is_exact_for_every_value():
    every = np.arange(8001, dtype=np.uint16)
    np.testing.assert_array_equal(unrotate_sunrgbd_depth(rotate(every)), every)


def test_sunrgbd_split_file_and_load_time_skips(tmp_path):
    for n in range(1, 4):
        make_scene(tmp_path, f"kv1/NYUdata/NYU000{n}", "bedroom")
    (tmp_path / "kv1/NYUdata/NYU0002/depth/0001.png").write_bytes(b"not a png")
    split = tmp_path / "train.txt"
    split.write_text("/n/fs/sun3d/data/SUNRGBD/kv1/NYUdata/NYU0001/\n"
                     "SUNRGBD/kv1/NYUdata/NYU0002\nkv1/NYUdata/NYU0003\n")
    data = SUNRGBD(tmp_path, split_file=split, max_skip_fraction=0.5)
    assert len(data) == 3
    bad = tmp_path / "kv1/NYUdata/NYU0002/depth/0001.png"
    detail = f"kv1/NYUdata/NYU0002: depth: cannot read image {bad}"
    with pytest.raises(SkipSample, match=re.escape(f"unreadable sample: {detail}")):
        data[1]
    assert [r.id for r in iter_records(data)] == ["kv1/NYUdata/NYU0001", "kv1/NYUdata/NYU0003"]
    assert data.skipped == {"unreadable sample": 1}  # counted once although read twice
    strict = SUNRGBD(tmp_path, split_file=split, max_skip_fraction=0.0)
    summary = f"skipped 1 of 3 samples: unreadable sample x1 (e.g. {detail}"
    with pytest.raises(InputError, match=re.escape(summary)) as err:
        list(iter_records(strict))
    assert not isinstance(err.value, SkipSample)


def test_sunrgbd_bad_metadata_is_skipped(tmp_path):
    make_scene(tmp_path, "kv1/NYUdata/NYU0001", "bedroom")
    (make_scene(tmp_path, "kv1/NYUdata/NYU0002", "bedroom") / "intrinsics.txt").write_text("oops")
    (make_scene(tmp_path, "kv1/NYUdata/NYU0003", "bedroom") / "depth/0001.png").unlink()
    data = SUNRGBD(tmp_path, max_skip_fraction=1.0)
    assert len(data) == 1
    assert data.skipped == {"bad scene.txt or intrinsics.txt": 1, "missing image or depth": 1}


def test_sunrgbd_and_llvip_records_feed_the_transforms(tmp_path):
    from edgebind.transforms import build_transform

    make_scene(tmp_path / "sun", "kv2/kinect2data/x", "kitchen", fx=365.0)
    make_scene(tmp_path / "sun", "realsense/lg/y", "kitchen", fx=600.0)
    sun = SUNRGBD(tmp_path / "sun")
    # The config's camera (Kinect v1 defaults) is not what took these frames: each frame's own is used.
    depth = build_transform("depth", {"size": 16, "normalize": False})
    kinect2, realsense = (depth(sun[i].inputs["depth"]) for i in range(2))
    own = [build_transform("depth", {"size": 16, "normalize": False, "baseline_m": b, "focal_px": f})(
        sun[i].inputs["depth"].depth) for i, (b, f) in enumerate([(0.075, 365.0), (0.095, 600.0)])]
    torch.testing.assert_close(kinect2, own[0])
    torch.testing.assert_close(realsense, own[1])
    assert realsense.max() > 2 * kinect2.max()  # same depths, 2.1x baseline x focal
    assert build_transform("vision", {"size": 16})(sun[0].inputs["vision"]).shape == (3, 16, 16)
    save_image(tmp_path / "LLVIP/visible/train/010001.jpg", rgb())
    save_image(tmp_path / "LLVIP/infrared/train/010001.jpg", rgb(77))
    (tmp_path / "LLVIP/Annotations").mkdir()
    (tmp_path / "LLVIP/Annotations/010001.xml").write_text(voc("person"))
    thermal = LLVIP(tmp_path / "LLVIP")[0].inputs["thermal"]
    assert build_transform("thermal", {"size": 16})(thermal).shape == (1, 16, 16)


# --- NYU-Depth v2 ---------------------------------------------------------------------------

def test_nyu_extracted_folders(tmp_path):
    mm = np.array([[0, 1500], [2500, 9000]], np.uint16)
    save_image(tmp_path / "train/bedroom_0004/rgb_00000.jpg", rgb())
    save_image(tmp_path / "train/bedroom_0004/sync_depth_00000.png", mm)
    save_image(tmp_path / "train/living_room_0038a/rgb_00007.jpg", rgb())
    save_image(tmp_path / "train/living_room_0038a/depth_00007.png", mm)
    save_image(tmp_path / "train/kitchen_0001/rgb_00009.jpg", rgb())  # no depth
    data = NYUDepthV2(tmp_path, split="train", max_skip_fraction=0.5)
    assert [r.id for r in iter_records(data)] == ["bedroom_0004/00000", "living_room_0038a/00007"]
    assert data.classes == ("bedroom", "living_room") and data.skipped == {"missing depth": 1}
    frame = data[1].inputs["depth"]
    np.testing.assert_array_equal(frame.depth, mm)
    assert (frame.baseline_m, frame.focal_px) == (0.075, 518.857)


# --- LLVIP ----------------------------------------------------------------------------------

def voc(*names: str) -> str:
    objects = "".join(f"<object><name>{n}</name><bndbox><xmin>1</xmin></bndbox></object>" for n in names)
    return f"<annotation><filename>x.jpg</filename>{objects}</annotation>"


def test_llvip_pairs_labels_and_skips(tmp_path):
    root = tmp_path / "LLVIP"
    for split, stem, xml in [("train", "010001", voc("person", "person")), ("train", "010002", voc()),
                             ("test", "190001", voc("person")), ("train", "010003", "<annotation><obj")]:
        save_image(root / "visible" / split / f"{stem}.jpg", rgb())
        save_image(root / "infrared" / split / f"{stem}.jpg", rgb(77))
        (root / "Annotations").mkdir(exist_ok=True)
        (root / "Annotations" / f"{stem}.xml").write_text(xml)
    save_image(root / "visible/train/010004.jpg", rgb())  # infrared twin missing
    data = LLVIP(tmp_path, split="train", max_skip_fraction=0.5)
    assert [(r.id, r.labels) for r in iter_records(data)] == [
        ("train/010001", ("person",)), ("train/010002", ("background",))]
    assert data.skipped == {"bad annotation": 1, "missing infrared image": 1}
    record = data[0]
    assert record.inputs["vision"] == root / "visible/train/010001.jpg"
    thermal = record.inputs["thermal"]
    assert thermal.dtype == np.uint8 and thermal.shape == (8, 10) and abs(int(thermal.mean()) - 77) <= 2
    assert len(LLVIP(root, split=None, max_skip_fraction=0.5)) == 3


# --- registry and empty trees ---------------------------------------------------------------

def test_registry(tmp_path):
    scene = make_scene(tmp_path, "kv1/NYUdata/NYU0001", "bedroom")
    shutil.copytree(scene / "depth", scene / "depth_bfx")
    data = open_dataset("SUNRGBD", tmp_path, depth_folder="depth")
    assert isinstance(data, SUNRGBD) and len(data) == 1
    filled = SUNRGBD(tmp_path, depth_folder="depth_bfx")
    assert data.fingerprint() == SUNRGBD(tmp_path).fingerprint() != filled.fingerprint()
    with pytest.raises(ConfigError, match="unknown data set kind 'imagenet'; choose one of: audioset, ego4d, llvip, manifest, "):
        open_dataset("imagenet", tmp_path)
    with pytest.raises(ConfigError, match="options are split_file, depth_folder, max_skip_fraction"):
        open_dataset("sunrgbd", tmp_path, split="train")


def test_empty_tree_says_what_was_expected(tmp_path):
    expected = f"llvip: found no samples under {tmp_path}; expected visible/<split>"
    with pytest.raises(InputError, match=re.escape(expected)):
        LLVIP(tmp_path)
