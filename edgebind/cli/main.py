"""The `edgebind` command: one entry point, a module per subcommand."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from edgebind.errors import EdgeBindError

DESCRIPTION = """\
edgebind: ImageBind on the edge. One embedding space for what a machine sees, hears and feels:
image, text, audio, depth, thermal and IMU.

Run `edgebind COMMAND --help` for a command's options and examples."""


def build_parser() -> argparse.ArgumentParser:
    from edgebind.cli import (bench, calibrate, convert, demo, devices, embed, engine, eval, export, extract, models, query,
                              record, reproduce, run, train)

    parser = argparse.ArgumentParser(
        prog="edgebind", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (bench, calibrate, convert, demo, devices, embed, engine, eval, export, extract, models, query, record,
                   reproduce, run, train):
        module.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except EdgeBindError as exc:
        print(f"edgebind {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"edgebind {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`edgebind models | head`): nothing to report
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
