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
--prompts is a JSON object label -> prompt or list of prompts (default: templates over the labels),
or `synthetic`: the synthetic world's caption phrasing, the prompts of `edgebind reproduce`'s table.
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

from edgebind.cli.common import add_command, output_file
from edgebind.errors import ConfigError
from edgebind.modality import Modality
from edgebind.registry import Registry

# task name -> function(model, args) -> result rows (one per modality)
TASKS: Registry = Registry("evaluation task")


def _per_modality(args, evaluate_one) -> list[dict]:
    """Open --data once and run `evaluate_one(data, modality)` for each --modality."""
    from edgebind.training.data.sources import open_data, parse_options

    if not args.modality:
        raise ConfigError(f"--task {args.task} needs --modality (e.g. audio, or audio,depth)")
    data = open_data(args.data, parse_options(args.data_option))
    return [evaluate_one(data, str(Modality.parse(m))) for m in args.modality.split(",")]


@TASKS.register("zeroshot")
def _zeroshot(model, args) -> list[dict]:
    from edgebind.training.evaluate import zeroshot

    if args.prompts == "synthetic":  # the synthetic world's own phrasing, as `edgebind reproduce` uses
        from edgebind.synthetic import prompt_ensemble

        return _per_modality(args, lambda data, modality: zeroshot(model, data, modality,
                                                                   prompt_ensemble(list(data.classes))))
    prompts = _prompts(args.prompts)
    return _per_modality(args, lambda data, modality: zeroshot(model, data, modality, prompts))


@TASKS.register("retrieval")
def _retrieval(model, args) -> list[dict]:
    from edgebind.training.evaluate import retrieval

    return _per_modality(args, lambda data, modality: retrieval(model, data, modality, args.target))


@TASKS.register("fewshot")
def _fewshot(model, args) -> list[dict]:
    from edgebind.training.evaluate import fewshot

    shots = [int(s) for s in args.shots.split(",")]
    return _per_modality(args, lambda data, modality: fewshot(model, data, modality, shots, method=args.method))


@TASKS.register("arithmetic")
def _arithmetic(model, args) -> list[dict]:
    """One row: the image plus --add (or --modality, else audio), on a synthetic world's manifest."""
    from edgebind.training.evaluate import arithmetic

    return [arithmetic(model, args.data, add=args.add or args.modality or "audio", attribute=args.attribute)]


def _prompts(path):
    if not path:
        return None
    try:
        prompts = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read prompts {path}: {exc}") from None
    valid = isinstance(prompts, dict) and all(
        isinstance(v, str) or isinstance(v, list) and v and all(isinstance(t, str) for t in v)
        for v in prompts.values())
    if not valid:
        raise ConfigError(f"{path}: prompts must be a JSON object label -> prompt string or non-empty list "
                          'of prompt strings, e.g. {"dog": ["a dog", "a barking dog"]}')
    return prompts


def evaluate(args) -> list[dict]:
    """Run the task on the model: one result row per modality."""
    from edgebind.models import create_model

    task = TASKS.get(args.task)
    return task(create_model(args.model, anchor_weights=args.anchor_weights), args)


def run(args) -> int:
    from edgebind.training.metrics import format_table

    json_out = output_file(args.json, "--json") if args.json else None  # checked before the work
    rows = evaluate(args)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    print(format_table(rows, columns))
    if json_out:
        json_out.write_text(json.dumps(rows if len(rows) > 1 else rows[0], indent=2) + "\n")
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "eval", __doc__, run)
    parser.add_argument("--model", required=True, help="checkpoint directory or model name")
    parser.add_argument("--data", required=True, help="manifest.jsonl (or folder), or KIND:ROOT")
    parser.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                        help="option for a KIND:ROOT data set, e.g. split=test (repeatable)")
    parser.add_argument("--task", required=True, choices=TASKS.names())
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
