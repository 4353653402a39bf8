"""A real pseudo-terminal standing in for a USB-serial device: the test writes what the device
would send, pyserial reads it through the kernel's tty layer; `unplug()` closes the device side."""
from __future__ import annotations

import os
import time
import tty
from pathlib import Path


class FakeSerialDevice:
    """A pty whose slave is reachable at `path` (a symlink, like /dev/serial/by-id/...)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.master: int | None = None
        self.plug()

    def plug(self) -> None:
        """A new pty behind `path` (a re-plugged device gets a new tty)."""
        self.master, slave = os.openpty()
        tty.setraw(slave)
        name = os.ttyname(slave)
        os.close(slave)
        self.path.unlink(missing_ok=True)
        self.path.symlink_to(name)

    def unplug(self) -> None:
        os.close(self.master)
        self.master = None

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait_until(self, condition, timeout: float = 5.0) -> None:
        """Poll `condition()` until true; fails the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out waiting for the serial reader"
            time.sleep(0.01)

    def close(self) -> None:
        if self.master is not None:
            self.unplug()
        self.path.unlink(missing_ok=True)
