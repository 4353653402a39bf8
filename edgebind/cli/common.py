"""Helpers shared by subcommands."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from edgebind.errors import ConfigError


def add_command(sub, name: str, module_doc: str, run) -> argparse.ArgumentParser:
    """A subcommand whose help is the module docstring: summary line, then text and examples."""
    summary, _, body = module_doc.strip().partition("\n")
    parser = sub.add_parser(
        name, help=summary, description=f"{summary}\n{body}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def output_file(path: "str | Path", option: str, suffix: str = "") -> Path:
    """The file an option names (with `suffix` added when missing), checked before any work:
    not a directory, and its folder creatable and writable."""
    out = Path(path)
    if suffix and out.suffix != suffix:
        out = out.with_name(out.name + suffix)
    if out.is_dir():
        raise ConfigError(f"{option} {path} is a directory; name a file in it, e.g. {out / ('out' + suffix)}")
    output_dir(out.parent, option)
    return out


def output_dir(path: "str | Path", option: str) -> Path:
    """A directory an option names, created if missing; an existing file or an unwritable place
    is a ConfigError before any work is done."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{option} {path} is an existing file, not a directory; choose another path")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot create it ({exc.strerror}); choose another place") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"{option} {path} is not writable; choose another place")
    return out
