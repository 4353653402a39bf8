"""Calibrate event thresholds to a place, for a chosen false-alarm rate.

Listen while nothing of interest happens (live sensors for --duration seconds, or a recording
played with `--sensors replay --set replay.path=... --set replay.speed=0`), score every window for
every event, and set each event's threshold per modality just above what the background reached
for the detector's enter_windows consecutive windows (or, over a long enough run, above the
score the target rate allows). Thresholds never go below --threshold (default 0.5). Writes a JSON
file for `edgebind run --calibration` (or `calibration:` in a profile); it names the model it was
made with, and the node refuses it for another model.

examples:
  edgebind calibrate --sensors mic --detect "glass breaking" --detect "a dog barking" --duration 300 --out place.json
  edgebind calibrate --sensors replay --set replay.path=quiet.mcap --set replay.speed=0 --detect "a drill" --out place.json
  edgebind calibrate --sensors sim --set sim.events=false --set sim.speed=0 --set sim.duration_s=120 --out sim.json
"""
from __future__ import annotations

from edgebind.cli.common import add_command, output_file
from edgebind.cli.run import add_node_options, build_config
from edgebind.errors import ConfigError


def run(args) -> int:
    from tqdm import tqdm

    from edgebind.runtime.calibrate import calibrate

    out = output_file(args.out, "--out", ".json")
    if args.duration is None and not all(_finite(c) for c in build_config(args).sensors):
        raise ConfigError("live sensors never end: give --duration S (seconds to listen)")
    config = build_config(args)
    with tqdm(desc="background windows", unit="window") as bar:
        result = calibrate(config, args.duration, args.false_alarms_per_hour, lambda n: bar.update(n - bar.n))
    result.save(out)
    print(f"listened to {result.seconds:.0f} s ({', '.join(f'{m}: {n} windows' for m, n in result.windows.items())})")
    for event, per in result.thresholds.items():
        print(f"{event:<24} " + "  ".join(f"{m}={t:.4f}" for m, t in per.items()))
    for event, modality in result.undetectable():
        print(f"warning: {event!r} cannot be detected on {modality} here: the background already scores at the ceiling")
    print(f"wrote {out}")
    return 0


def _finite(config) -> bool:
    return (config.type == "sim" and config.duration_s is not None) or (config.type == "replay")


def add_parser(sub) -> None:
    parser = add_command(sub, "calibrate", __doc__, run)
    add_node_options(parser)
    parser.add_argument("--false-alarms-per-hour", type=float, default=1.0, metavar="R",
                        help="the false-alarm rate to allow per event and modality (default 1)")
    parser.add_argument("--out", required=True, metavar="FILE.json", help="where to write the calibration")
