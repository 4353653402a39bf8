"""List attached sensors: serial ports, audio inputs, RealSense cameras and V4L2 video devices.

Each line ends with the setting that selects the device for `edgebind record`
(`--set NAME.KEY=VALUE`) where edgebind has a driver for it. A kind whose library is missing
says what to install.

examples:
  edgebind devices
"""
from __future__ import annotations

import shlex

from edgebind.cli.common import add_command


def run(args) -> int:
    from edgebind.drivers import SOURCES
    from edgebind.drivers.devices import find_devices

    for kind, (devices, problem) in find_devices().items():
        print(f"{kind}:")
        for d in devices:
            driver = d.setting.split(".")[0]
            use = f"--set {shlex.quote(d.setting)}" if driver in SOURCES else f"(no edgebind {driver} driver yet)"
            print(f"  {d.id:<24} {d.description:<40} {use}")
        if problem:
            print(f"  ({problem})")
        elif not devices:
            print("  (none found)")
    return 0


def add_parser(sub) -> None:
    add_command(sub, "devices", __doc__, run)
