"""One registry pattern: duplicates and unknown names are errors, configs pick classes by `type`,
model names and paths are told apart explicitly, and importing edgebind changes no global state."""
import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

import edgebind
from edgebind.errors import ConfigError, UnknownModelError
from edgebind.models.registry import MODELS, add_model_config
from edgebind.registry import Registry


@dataclass
class _Cfg:
    type: str
    size: int = 1


def test_registry_builds_by_type_and_refuses_duplicates():
    things = Registry("thing")

    @things.register("box")
    class Box:
        def __init__(self, cfg, scale):
            self.volume = cfg.size * scale

    assert things.build(_Cfg("box", 3), 2).volume == 6 and "box" in things and things.names() == ["box"]
    with pytest.raises(ConfigError, match="thing 'box' is already registered"):
        things.add("box", object)
    with pytest.raises(ConfigError, match="unknown thing 'crate'; choose one of: box"):
        things.build(_Cfg("crate"))


def test_every_kind_is_registered_once():
    from edgebind.cli.eval import TASKS
    from edgebind.models.encoders import ENCODERS
    from edgebind.models.heads import HEADS
    from edgebind.models.stems import STEMS
    from edgebind.training.data.registry import DATASETS
    from edgebind.transforms import TRANSFORMS

    assert TRANSFORMS.names() == sorted(m.value for m in edgebind.Modality)
    assert STEMS.names() == ["conv_patch", "imu", "patch", "text", "video_patch"]
    assert HEADS.names() == ["text", "token"] and ENCODERS.names() == ["anchor", "native"]
    assert DATASETS.names() == ["audioset", "ego4d", "llvip", "manifest", "nyuv2", "sunrgbd", "vggsound"]
    assert TASKS.names() == ["arithmetic", "fewshot", "retrieval", "zeroshot"]
    with pytest.raises(ConfigError, match="model 'edgebind-tiny' is already registered"):
        add_model_config(MODELS.get("edgebind-tiny"))


def test_unknown_stem_type_names_the_config_entry(tmp_path):
    config = json.loads(MODELS.get("edgebind-tiny").read_text())
    config["modalities"]["audio"]["stem"]["type"] = "pacth"
    (tmp_path / "bad.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"modalities\.audio.*unknown stem type 'pacth'; choose one of: conv_patch, imu, patch"):
        edgebind.create_model(tmp_path / "bad.json")


def test_a_local_folder_never_shadows_a_registered_name(tmp_path, monkeypatch):
    trained = edgebind.create_model("edgebind-tiny-synthetic", modalities=["imu"])
    edgebind.save_model(edgebind.create_model("edgebind-tiny", modalities=["imu"]), tmp_path / "edgebind-tiny-synthetic")
    edgebind.save_model(trained, tmp_path / "mine")
    monkeypatch.chdir(tmp_path)
    by_name = edgebind.create_model("edgebind-tiny-synthetic", modalities=["imu"])
    assert all((a == b).all() for a, b in zip(by_name.state_dict().values(), trained.state_dict().values()))
    with pytest.raises(UnknownModelError, match=r"unknown model 'mine'.*pass it as \./mine"):
        edgebind.create_model("mine")
    for spec in ("./mine", tmp_path / "mine", str(tmp_path / "mine")):
        assert edgebind.create_model(spec).modalities == (edgebind.Modality.IMU,)
    with pytest.raises(UnknownModelError, match="nothere is neither a checkpoint directory"):
        edgebind.create_model("./nothere")


@pytest.mark.slow
def test_the_demo_changes_no_global_state_and_needs_no_training_package():
    """In a fresh interpreter: the root logger and OpenCLIP's registry stay as they were, and the
    core path (models, scoring, retrieval, the demo) never imports edgebind.training."""
    code = """
import logging, sys, open_clip
state = lambda: (logging.getLogger().level, list(logging.getLogger().handlers), open_clip.list_models())
before = state()
from edgebind.cli.main import main
main(["demo", "--samples", "8"])
import edgebind.retrieval, edgebind.scoring, edgebind.sample, edgebind.manifest
print(before == state(), sorted(m for m in sys.modules if m.startswith("edgebind.training")))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "True []"
