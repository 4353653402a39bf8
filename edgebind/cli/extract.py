"""Turn a recording into a data set (manifest.jsonl plus files) for training and evaluation.

The recording (from `edgebind record`) is cut into windows of --window seconds every --hop
seconds; each window becomes one sample: its audio as WAV, its IMU samples as CSV, and the depth
(16-bit PNG, with the camera's calibration in the row), thermal (.npy Kelvin) and colour frames
nearest its middle. A stream with a gap in a window, or covering less than --min-coverage of it,
is left out of that sample; the summary says how often and why. Labels come from ground truth in
the recording (the sim's), where there is any; add your own to manifest.jsonl afterwards.

examples:
  edgebind extract field.mcap data/field
  edgebind extract field.mcap data/field --window 2 --hop 0.5 --sources mic,imu
  edgebind train --stage bind --data manifest:data/field --out runs/field ...
"""
from __future__ import annotations

from edgebind.cli.common import add_command, output_dir


def run(args) -> int:
    from edgebind.drivers.extract import recording_to_manifest

    sources = [s.strip() for s in args.sources.split(",") if s.strip()] if args.sources else []
    report = recording_to_manifest(args.recording, output_dir(args.out, "OUT_DIR"), args.window, args.hop,
                                   sources, args.min_coverage, args.overwrite)
    for modality, count in sorted(report.written.items()):
        print(f"{modality:<8} {count:>6} files  (from {report.streams[modality]})")
    for why, count in sorted(report.left_out.items()):
        print(f"left out in {count} windows: {why}")
    print(f"wrote {report.manifest} ({report.samples} samples)")
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "extract", __doc__, run)
    parser.add_argument("recording", metavar="REC.mcap", help="a recording from `edgebind record`")
    parser.add_argument("out", metavar="OUT_DIR", help="folder for manifest.jsonl and the files")
    parser.add_argument("--window", type=float, default=2.0, metavar="S", help="seconds per sample (default 2)")
    parser.add_argument("--hop", type=float, metavar="S", help="seconds between window starts (default: --window)")
    parser.add_argument("--sources", help="comma-separated recorded sources to use (default: all; "
                                          "required when two sources give one modality)")
    parser.add_argument("--min-coverage", type=float, default=0.9, metavar="F",
                        help="least fraction of a window an audio/IMU stream must cover (default 0.9)")
    parser.add_argument("--overwrite", action="store_true", help="replace a data set already in OUT_DIR")
