"""Train-time augmentation: what each one does to a batch, its config checks, and that the trainer
applies it to the trained inputs only."""
import json
import re

import pytest
import torch
from safetensors.torch import load_file

from edgebind.errors import ConfigError, ModalityError
from edgebind.training.augment import AugmentConfig, Augmenter, flip, parse_augment, time_mask, time_shift, translate
from edgebind.training.config import TrainConfig, load_train_config
from edgebind.training.trainer import Trainer


def _shift_of(before: torch.Tensor, after: torch.Tensor) -> int:
    """The s with after[..., j] == before[..., (j + s) % T]; fails when after is no such shift."""
    found = [s for s in range(before.shape[-1]) if torch.equal(torch.roll(before, -s, dims=-1), after)]
    assert found, "not a circular shift along the last axis"
    return found[0]


def test_time_shift_moves_each_sample_along_its_last_axis_by_at_most_max():
    x = torch.randn(32, 1, 1, 5, 40)  # the audio layout: clips, channel, mel bins, frames
    draws = torch.Generator().manual_seed(0)
    shifts = [_shift_of(x[i], y) for i, y in enumerate(time_shift(x, AugmentConfig("time_shift", max=0.25), draws))]
    assert max(shifts) < 0.25 * 40 and len(set(shifts)) > 4  # per sample, bounded by max
    full = [_shift_of(x[i], y) for i, y in enumerate(time_shift(x, AugmentConfig("time_shift"), draws))]
    assert max(full) >= 20  # max=1: anywhere in the window


def test_time_mask_sets_one_span_per_sample_to_its_mean():
    x = torch.randn(64, 6, 50)  # the IMU layout: channels, samples
    y = time_mask(x, AugmentConfig("time_mask", max=0.2), torch.Generator().manual_seed(1))
    widths = []
    for before, after in zip(x, y):
        changed = (before != after).any(dim=0).nonzero().flatten()
        widths.append(len(changed))
        if len(changed):
            assert changed.tolist() == list(range(int(changed[0]), int(changed[0]) + len(changed)))  # one span
            assert torch.allclose(after[:, changed], before.mean().expand(6, len(changed)))
    assert max(widths) < 0.2 * 50 and max(widths) > 0


def test_flip_mirrors_each_image_on_each_axis_with_probability_p():
    x = torch.randn(400, 1, 4, 5)
    y = flip(x, AugmentConfig("flip", p=0.3), torch.Generator().manual_seed(3))
    kinds = []
    for before, after in zip(x, y):
        options = {(h, v): before.flip(-1) if h else before for h in (0, 1) for v in (0, 1)}
        options = {(h, v): image.flip(-2) if v else image for (h, v), image in options.items()}
        kinds += [k for k, image in options.items() if torch.equal(image, after)]
    assert len(kinds) == len(x)  # every output is the input, mirrored on zero, one or both axes
    for axis in (0, 1):
        share = sum(k[axis] for k in kinds) / len(kinds)
        assert abs(share - 0.3) < 3 * (0.3 * 0.7 / len(kinds)) ** 0.5, (axis, share)


def test_translate_moves_each_image_by_at_most_max_of_its_size():
    x = torch.arange(8 * 32 * 32, dtype=torch.float32).view(8, 1, 32, 32)  # every pixel distinct
    y = translate(x, AugmentConfig("translate", max=0.125), torch.Generator().manual_seed(4))
    moves = set()
    for before, after in zip(x, y):
        inner = after[0, 4:-4, 4:-4]  # away from the reflected border
        where = (before[0] == inner[0, 0]).nonzero()[0].tolist()  # where the inner corner came from
        dy, dx = where[0] - 4, where[1] - 4
        assert max(abs(dy), abs(dx)) <= 4 and torch.equal(before[0, 4 + dy : 28 + dy, 4 + dx : 28 + dx], inner)
        moves.add((dy, dx))
    assert len(moves) > 3


def test_augmenter_applies_a_modalitys_list_in_order_and_leaves_the_rest():
    plan = parse_augment({"audio": [{"type": "time_shift"}, {"type": "time_mask", "max": 0.1}], "imu": []})
    augment = Augmenter(plan)
    x = torch.randn(4, 6, 30)
    draws = Augmenter.generator(seed=0, epoch=3, batch=5)
    assert augment("imu", x, draws) is x and augment("depth", x, draws) is x
    got = augment("audio", x, draws)
    draws = Augmenter.generator(seed=0, epoch=3, batch=5)
    want = time_mask(time_shift(x, plan["audio"][0], draws), plan["audio"][1], draws)
    assert torch.equal(got, want) and not torch.equal(got, x)
    assert not torch.equal(got, augment("audio", x, Augmenter.generator(seed=0, epoch=3, batch=6)))


@pytest.mark.parametrize("augment, error, match", [
    ({"audio": [{"type": "timeshift"}]}, ConfigError, "unknown augmentation 'timeshift'; choose one of: flip, time_mask, time_shift, translate"),
    ({"imu": [{"type": "time_shift", "max": 1.5}]}, ConfigError, r"augment.imu\[0\]: augmentation time_shift: max must be in \(0, 1\] and p in \[0, 1\], got max=1.5"),
    ({"vision": [{"type": "flip", "p": -0.1}]}, ConfigError, r"augment.vision\[0\]: augmentation flip: .* got max=1.0, p=-0.1"),
    ({"imu": [{"type": "time_shift", "width": 3}]}, ConfigError, r"augment.imu\[0\]: unknown key\(s\) \['width'\]"),
    ({"text": [{"type": "time_shift"}]}, ConfigError, "text tokens cannot be augmented"),
    ({"audio": {"type": "time_shift"}}, ConfigError, "augment.audio: expected a list"),
    ({"sonar": []}, ModalityError, "unknown modality 'sonar'"),
    ("time_shift", ConfigError, "augment must map a modality to a list"),
])
def test_bad_augment_configs_say_what_is_wrong(augment, error, match):
    with pytest.raises(error, match=match):
        TrainConfig(stage="bind", data="d", out="o", augment=augment)


def test_default_augments_audio_and_imu_and_set_turns_it_off():
    cfg = TrainConfig(stage="bind", data="d", out="o")
    assert {m: [c.type for c in cs] for m, cs in cfg.augment_plan.items()} == {"audio": ["time_shift"], "imu": ["time_shift"]}
    off = load_train_config(None, {"stage": "bind", "data": "d", "out": "o"}, ["augment={}"])
    assert off.augment_plan == {}
    cfg.augment["audio"].append({"type": "time_mask"})  # a config's dict is its own, not the default's
    assert TrainConfig(stage="bind", data="d", out="o").augment["audio"] == [{"type": "time_shift"}]


def test_the_trainer_augments_the_trained_inputs(world_dir, tmp_path):
    """Two runs of one seed differ only by augmentation; validation is off, so its embeddings are
    not involved."""
    def run(name: str, augment: dict):
        out = tmp_path / name
        Trainer(TrainConfig(stage="bind", data=str(world_dir), out=str(out), modalities=("imu",), epochs=1,
                            batch_size=8, progress=False, val_fraction=0.0, augment=augment)).run()
        return load_file(out / "model.safetensors"), json.loads((out / "train_config.json").read_text())

    plain, _ = run("plain", {})
    again, _ = run("again", {})
    shifted, saved = run("shifted", {"imu": [{"type": "time_shift"}]})
    imu = [k for k in plain if re.match(r"\w+\.imu\.", k)]
    assert imu and all(torch.equal(plain[k], again[k]) for k in plain)
    assert any(not torch.equal(plain[k], shifted[k]) for k in imu)
    assert saved["augment"] == {"imu": [{"type": "time_shift"}]}  # the run says how it was trained
