"""Helpers shared by subcommands."""
from __future__ import annotations

import argparse


def add_command(sub, name: str, module_doc: str, run) -> argparse.ArgumentParser:
    """A subcommand whose help is the module docstring: summary line, then text and examples."""
    summary, _, body = module_doc.strip().partition("\n")
    parser = sub.add_parser(
        name, help=summary, description=f"{summary}\n{body}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser
