"""What limits depth and thermal on a fresh world? (issue 9) Two measurements on the world and the
anchor that `fresh_world_recipe.py` leaves behind:

1. Class information per bound modality: a small CNN trained with the labels (no binding) for a fixed
   number of steps, scored on the test world (best of its evaluations every 100 steps). Emergent
   zero-shot cannot beat what the modality shows of its class.
2. Stem: depth and thermal bound to the same anchor for the same steps, once with the config's stems
   (conv_patch) and once with 8x8 patchify stems; validation zero-shot and depth<->thermal R@1.

    python benchmarks/fresh_world_recipe.py && python benchmarks/modality_probe.py
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from edgebind.manifest import read_manifest
from edgebind.models import load_model, save_model
from edgebind.models.model import EdgeBindModel



def probe(world: Path, modality: str, steps: int) -> dict:
    """Best test top-1 of a label-supervised CNN on `modality` (1-D convs for IMU) within `steps`."""
    torch.manual_seed(0)
    train, test = (read_manifest(world / split / "manifest.jsonl") for split in ("train", "test"))
    classes = sorted({s.label for s in train})
    transform = load_model(world / "anchor" / "best", [modality]).transform(modality)

    def tensors(samples):
        x = transform.batch([s.inputs[modality] for s in samples])
        return x.flatten(1, 2) if x.ndim == 5 else x, torch.tensor([classes.index(s.label) for s in samples])

    (x, y), (xt, yt) = tensors(train), tensors(test)
    conv, norm = (nn.Conv1d, nn.BatchNorm1d) if x.ndim == 3 else (nn.Conv2d, nn.BatchNorm2d)
    widths = [x.shape[1], 32, 64, 96, 128]
    net = nn.Sequential(*[layer for i in range(4) for layer in (conv(widths[i], widths[i + 1], 3, 2, 1),
                                                               norm(widths[i + 1]), nn.GELU())],
                        nn.Flatten(2), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(128, len(classes)))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.05)
    start, best = time.perf_counter(), 0.0
    for step in range(1, steps + 1):
        batch = torch.randint(0, len(x), (128,))
        loss = F.cross_entropy(net(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            net.eval()
            with torch.no_grad():
                top1 = (net(xt).argmax(1) == yt).float().mean().item()
            net.train()
            best = max(best, top1)
    return {"modality": modality, "supervised_top1": round(best, 3), "steps": steps,
            "seconds": round(time.perf_counter() - start, 1), "chance": round(1 / len(classes), 4)}


def patch_stem_init(anchor: Path, out: Path) -> Path:
    """The anchor checkpoint with depth and thermal rebuilt on 8x8 patchify stems (fresh weights)."""
    model = load_model(anchor)
    config = model.config
    modalities = dict(config.modalities)
    for name in ("depth", "thermal"):
        encoder = modalities[name]
        modalities[name] = dataclasses.replace(encoder, stem=dataclasses.replace(encoder.stem, type="patch"))
    torch.manual_seed(0)
    patched = EdgeBindModel(dataclasses.replace(config, modalities=modalities), None)
    kept = {k: v for k, v in model.state_dict().items() if not any(m in k for m in ("depth", "thermal"))}
    patched.load_state_dict(kept, strict=False)
    return save_model(patched, out)


def bind(world: Path, init: Path, out: Path, steps: int) -> dict:
    """Bind depth and thermal for `steps` (no time limit, no early stop); the last validation."""
    subprocess.run([sys.executable, "-m", "edgebind.cli.main", "train", "--stage", "bind", "--data",
                    str(world / "train" / "manifest.jsonl"), "--out", str(out), "--init", str(init),
                    "--overwrite", "--modalities", "depth,thermal", "--set", f"max_steps={steps}",
                    "--set", "max_minutes=600", "--set", "patience=1000"], check=True, capture_output=True)
    last = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    return {k: round(v, 3) for k, v in last.items() if k.startswith("val/")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="/tmp/edgebind-fresh-world", help="fresh_world_recipe.py's --out")
    parser.add_argument("--probe-steps", type=int, default=800)
    parser.add_argument("--modalities", default="depth,thermal,imu",
                        help="modalities to probe (audio is ~10x slower: 128x204 fbank inputs)")
    parser.add_argument("--bind-steps", type=int, default=500)
    parser.add_argument("--json", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    world = Path(args.world)
    anchor = world / "anchor" / "best"
    probes = [probe(world, m, args.probe_steps) for m in args.modalities.split(",")]
    for row in probes:
        print(row)
    stems = {"conv_patch (config)": bind(world, anchor, world / "probe_conv", args.bind_steps),
             "patch": bind(world, patch_stem_init(anchor, world / "probe_patch_init"), world / "probe_patch",
                           args.bind_steps)}
    for name, row in stems.items():
        print(name, row)
    report = {"world": str(world), "probe_steps": args.probe_steps, "class_information": probes,
              "bind_steps": args.bind_steps, "stems": stems, "torch_threads": torch.get_num_threads()}
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
