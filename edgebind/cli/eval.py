"""Evaluate a model: zero-shot classification, retrieval, embedding arithmetic, few-shot probes.

Tasks:
  zeroshot    classify --modality samples against text prompts of the class names (top-1/top-5,
              or mAP for multi-label sets); for audio, depth, thermal and imu this is the
              emergent case: they were never trained with text
  retrieval   instance retrieval --modality -> --target (default vision) and back, R@1/5/10;
              --target imu with --modality audio asks "which IMU trace goes with this sound"
  arithmetic  image + audio (or + text) composition on a synthetic world (--modality or
              --add: audio|text)
  fewshot     linear probe on frozen embeddings with --shots per class, several seeds
--prompts is a JSON object label -> prompt or list of prompts (default: templates over the labels).
Prints a table; --json writes the figures.

examples:
  edgebind eval --model runs/bind --data test/manifest.jsonl --task zeroshot --modality audio
  edgebind eval --model runs/bind --data test/ --task retrieval --modality audio --target imu
  edgebind eval --model runs/bind --data test/ --task arithmetic --add audio --json arith.json
  edgebind eval --model runs/bind --data test/ --task fewshot --modality depth --shots 1,2,4,8
  edgebind eval --model runs/anchor --data test/ --task zeroshot --modality vision
"""
from __future__ import annotations

import json
from pathlib import Path

from edgebind.cli.common import add_command
from edgebind.errors import ConfigError

TASKS = ("zeroshot", "retrieval", "arithmetic", "fewshot")


def _prompts(path):
    if not path:
        return None
    try:
        prompts = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read prompts {path}: {exc}") from None
    if not isinstance(prompts, dict):
        raise ConfigError(f"{path}: prompts must be a JSON object label -> prompt or list of prompts")
    return prompts


def evaluate(args) -> list[dict]:
    """Run the task for each requested modality; one result row per modality."""
    from edgebind.models import create_model
    from edgebind.training import evaluate as tasks
    from edgebind.training.data.sources import open_data, parse_options

    model = create_model(args.model, anchor_weights=args.anchor_weights)
    if args.task == "arithmetic":
        add = args.add or args.modality or "audio"
        return [tasks.arithmetic(model, args.data, add=add, attribute=args.attribute)]
    data = open_data(args.data, parse_options(args.data_option))
    rows = []
    for modality in args.modality.split(","):
        modality = "vision" if modality == "image" else modality
        if args.task == "zeroshot":
            rows.append(tasks.zeroshot(model, data, modality, _prompts(args.prompts)))
        elif args.task == "retrieval":
            rows.append(tasks.retrieval(model, data, modality, args.target))
        else:
            shots = [int(s) for s in args.shots.split(",")]
            rows.append(tasks.fewshot(model, data, modality, shots, method=args.method))
    return rows


def run(args) -> int:
    from edgebind.training.metrics import format_table

    if args.task != "arithmetic" and not args.modality:
        raise ConfigError(f"--task {args.task} needs --modality (e.g. audio, or audio,depth)")
    rows = evaluate(args)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    print(format_table(rows, columns))
    if args.json:
        Path(args.json).write_text(json.dumps(rows if len(rows) > 1 else rows[0], indent=2) + "\n")
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "eval", __doc__, run)
    parser.add_argument("--model", required=True, help="checkpoint directory or model name")
    parser.add_argument("--data", required=True, help="manifest.jsonl (or folder), or KIND:ROOT")
    parser.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                        help="option for a KIND:ROOT data set, e.g. split=test (repeatable)")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--modality", help="modality or comma-separated list (vision for the anchor)")
    parser.add_argument("--target", default="vision", help="retrieval: the other modality")
    parser.add_argument("--prompts", help="JSON object label -> prompt or list of prompts")
    parser.add_argument("--add", choices=["audio", "text"],
                        help="arithmetic: what to add to the image (default: --modality, else audio)")
    parser.add_argument("--attribute", default="temperature", help="arithmetic: attribute kept from the image")
    parser.add_argument("--shots", default="1,2,4,8", help="fewshot: shots per class")
    parser.add_argument("--method", default="linear", choices=["linear", "ncm"], help="fewshot classifier")
    parser.add_argument("--anchor-weights", help="local OpenCLIP weights file for the anchor")
    parser.add_argument("--json", help="write the results to this JSON file")
