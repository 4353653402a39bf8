"""Evaluation tasks and the end-to-end reproduce run, on a minute-free mini run."""
import json
import math

import pytest
import torch

from edgebind.cli.main import main
from edgebind.scoring import class_text_embeddings
from edgebind.models import create_model, load_model, save_model
from edgebind.synthetic import WorldConfig, make_world, prompt_ensemble
from edgebind.training import evaluate
from edgebind.training.config import TrainConfig
from edgebind.training.data.manifest import ManifestDataset
from edgebind.training.reproduce import BOUND, NEVER_PAIRED
from edgebind.training.trainer import Trainer


def test_reproduce_reports_every_modality_and_pair(mini_run):
    """The report's layout. One epoch on 48 scenes learns nothing worth asserting on; the claim
    itself (binding beats the shuffled control) is test_binding_beats_the_shuffled_control."""
    out, report = mini_run
    pairs = [(row["query"], row["target"]) for row in report["rows"]]
    assert [("vision", "text")] + [(m, "text") for m in BOUND] == pairs[:5]
    assert [(m, "vision") for m in BOUND] + list(NEVER_PAIRED) == pairs[5:]
    assert json.loads((out / "report.json").read_text())["rows"] == report["rows"]
    assert [row["chance"] for row in report["rows"]] == [1 / 4] * 5 + [1 / 24] * 8  # 4 classes, 24 scenes
    assert ["control top1" in row for row in report["rows"][:5]] == [False] + [True] * 4
    assert (out / "bind" / "model.safetensors").is_file()


@pytest.mark.parametrize("task, extra, keys", [
    ("zeroshot", ["--modality", "audio,imu"], {"top1", "top5", "chance"}),
    ("retrieval", ["--modality", "audio", "--target", "imu"], {"R@1", "R@10", "chance"}),
    ("arithmetic", ["--add", "text"], {"composed R@1", "base_only R@1", "add_only R@1", "chance"}),
    ("arithmetic", ["--modality", "audio"], {"composed R@1", "base_only R@1", "add_only R@1", "chance"}),
    ("fewshot", ["--modality", "depth", "--shots", "1,2", "--method", "ncm"], {"1-shot top1", "chance"}),
])
def test_eval_cli_writes_json(mini_run, tmp_path, capsys, task, extra, keys):
    out, _ = mini_run
    target = tmp_path / "result.json"
    assert main(["eval", "--model", str(out / "bind"), "--data", str(out / "world" / "test"),
                 "--task", task, *extra, "--json", str(target)]) == 0
    result = json.loads(target.read_text())
    rows = result if isinstance(result, list) else [result]
    for row in rows:
        assert row["task"] == task and keys <= set(row) and row["n"] > 0
    assert task in capsys.readouterr().out


def test_prompts_file_is_used(mini_run, tmp_path):
    from edgebind.models import load_model

    out, _ = mini_run
    model, data = load_model(out / "bind"), ManifestDataset(out / "world" / "test")
    default = class_text_embeddings(model, data.classes)
    custom = class_text_embeddings(model, data.classes, {c: f"xyz {c}" for c in data.classes})
    assert default.shape == custom.shape and not (default - custom).abs().max() < 1e-6


def test_bad_prompts_file(mini_run, tmp_path, capsys):
    out, _ = mini_run
    bad = tmp_path / "p.json"
    bad.write_text("[1, 2]")
    assert main(["eval", "--model", str(out / "bind"), "--data", str(out / "world" / "test"),
                 "--task", "zeroshot", "--modality", "audio", "--prompts", str(bad)]) == 2
    assert f"{bad}: prompts must be a JSON object" in capsys.readouterr().err


def test_task_needs_a_modality(mini_run, capsys):
    out, _ = mini_run
    assert main(["eval", "--model", str(out / "bind"), "--data", str(out / "world" / "test"),
                 "--task", "zeroshot"]) == 2
    assert "--task zeroshot needs --modality" in capsys.readouterr().err


@pytest.mark.slow
def test_binding_beats_the_shuffled_control(tmp_path):
    """ImageBind's claim, as `edgebind reproduce` measures it, at a size a test affords: a fresh
    audio encoder bound to a trained image/text anchor (the shipped model's) with (image, audio)
    pairs only classifies held-out sounds from text prompts it never saw; the same run with
    shuffled pairs does not. Both gaps must exceed 3 standard errors (seeds 0-5 give 5 or more)."""
    torch.manual_seed(0)
    init = create_model("edgebind-tiny-synthetic")
    init.load_state_dict(create_model("edgebind-tiny", modalities=["audio"]).state_dict(), strict=False)
    save_model(init, tmp_path / "init")
    train = make_world(tmp_path / "train", 48, WorldConfig(4, seed=0), progress=False)
    test = ManifestDataset(make_world(tmp_path / "test", 96, WorldConfig(4, seed=1), progress=False))
    prompts = prompt_ensemble(list(test.classes))
    common = dict(stage="bind", data=str(train), init=str(tmp_path / "init"), modalities=("audio",), epochs=8,
                  batch_size=8, lr=3e-3, warmup_steps=2, cache_dir=str(tmp_path / "cache"), progress=False,
                  val_fraction=0.0)
    top1 = {}
    for name, shuffle in (("bound", False), ("control", True)):
        Trainer(TrainConfig(out=str(tmp_path / name), shuffle_pairs=shuffle, **common)).run()
        result = evaluate.zeroshot(load_model(tmp_path / name), test, "audio", prompts)
        top1[name], chance, n = result["top1"], result["chance"], result["n"]
    bound, control = top1["bound"], top1["control"]
    assert bound - control > 3 * math.sqrt((bound * (1 - bound) + control * (1 - control)) / n), top1
    assert bound - chance > 3 * math.sqrt(chance * (1 - chance) / n), top1


@pytest.mark.slow
def test_shipped_model_keeps_its_emergent_alignment(tmp_path):
    """The shipped checkpoint still classifies held-out scenes from text for every modality
    (guards against transform or model changes that silently break trained weights)."""
    model = create_model("edgebind-tiny-synthetic")
    data = ManifestDataset(make_world(tmp_path, 64, WorldConfig(seed=99), progress=False))
    prompts = prompt_ensemble(list(data.classes))
    for modality in ("vision", "audio", "depth", "thermal", "imu"):
        result = evaluate.zeroshot(model, data, modality, prompts)
        assert result["top1"] >= 2.5 * result["chance"], (modality, result["top1"])


def test_data_options_reach_the_data_set(mini_run, tmp_path, capsys):
    out, _ = mini_run
    common = ["eval", "--model", str(out / "bind"), "--data", str(out / "world" / "test"),
              "--task", "zeroshot", "--modality", "imu"]
    assert main(common + ["--data-option", "modalities=[\"imu\"]"]) == 0
    assert main(common + ["--data-option", "splitt=test"]) == 2
    assert "splitt" in capsys.readouterr().err
    assert main(common + ["--data-option", "nonsense"]) == 2
    assert "--data-option 'nonsense': expected KEY=VALUE" in capsys.readouterr().err


def test_fewshot_beyond_the_pool_says_so(mini_run, caplog):
    """24 test scenes over 4 classes leave ~3 pool examples a class: 50 shots cannot be 50-shot."""
    out, _ = mini_run
    from edgebind.models import load_model
    from edgebind.training.evaluate import fewshot

    data = ManifestDataset(out / "world" / "test")
    with caplog.at_level("WARNING", logger="edgebind.training.evaluate"):
        row = fewshot(load_model(out / "bind"), data, "audio", shots=[1, 50], method="ncm")
    assert row["50-shot short classes"] == 4 and "1-shot short classes" not in row
    assert "50-shot: 4 of 4 classes have fewer than 50 pool examples" in caplog.text


@pytest.mark.slow
def test_arithmetic_weights_and_centring_reach_the_sum(mini_run):
    from edgebind.models import load_model
    from edgebind.training import evaluate

    out, _ = mini_run
    model, manifest = load_model(out / "bind"), out / "world" / "test"
    image_only = evaluate.arithmetic(model, manifest, add="text", weights=(1.0, 0.0))
    assert image_only["composed R@1"] == image_only["base_only R@1"] and image_only["weights"] == [1.0, 0.0]
    plain, centred = (evaluate.arithmetic(model, manifest, add="audio", center=c) for c in (False, True))
    assert (plain["center"], centred["center"]) == (False, True)
    assert plain["add_only R@1"] != centred["add_only R@1"] or plain["composed R@1"] != centred["composed R@1"]


def test_synthetic_prompts_are_the_worlds_phrasing(mini_run, tmp_path):
    """--prompts synthetic scores with the world's caption ensemble, as reproduce's prompts.json."""
    out, _ = mini_run
    common = ["eval", "--model", str(out / "bind"), "--data", str(out / "world" / "test"), "--task",
              "zeroshot", "--modality", "audio"]
    assert main(common + ["--prompts", "synthetic", "--json", str(tmp_path / "a.json")]) == 0
    assert main(common + ["--prompts", str(out / "prompts.json"), "--json", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())
