"""What sensors are attached: serial ports, audio inputs, RealSense cameras and V4L2 video devices.

Each finder returns the devices it sees and, when its library is missing or fails, a line saying
why and what to install, so `edgebind devices` never fails as a whole for one missing library.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgebind.drivers.mic import load_sounddevice
from edgebind.errors import EdgeBindError, require


@dataclass(frozen=True)
class Device:
    """An attached device and the setting that selects it (`--set NAME.KEY=VALUE`)."""

    kind: str
    id: str
    description: str
    setting: str


def serial_ports() -> list[Device]:
    list_ports = require("serial.tools.list_ports", "sensors", "listing serial ports")
    return [Device("serial", p.device, p.description or "", f"imu.port={p.device}")
            for p in sorted(list_ports.comports(), key=lambda p: p.device)]


def audio_inputs() -> list[Device]:
    sd = load_sounddevice("listing audio inputs")
    return [Device("audio", str(i), f"{d['name']} ({d['max_input_channels']} ch, {d['default_samplerate']:.0f} Hz)",
                   f"mic.device={d['name']}")
            for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]


def realsense_cameras(context: Any = None) -> list[Device]:
    """The cameras in `context` (an rs.context; default: a new one, i.e. those plugged in)."""
    rs = require("pyrealsense2", "sensors", "listing RealSense cameras")
    found = []
    for dev in (rs.context() if context is None else context).query_devices():
        serial = dev.get_info(rs.camera_info.serial_number)
        found.append(Device("realsense", serial, dev.get_info(rs.camera_info.name), f"depth.serial={serial}"))
    return found


def video_devices(pattern: str = "/dev/video*") -> list[Device]:
    """V4L2 devices (UVC thermal cameras such as PureThermal/Lepton, Boson, TC001 appear here)."""
    found = []
    for path in sorted(glob.glob(pattern)):
        name_file = Path("/sys/class/video4linux") / Path(path).name / "name"
        name = name_file.read_text().strip() if name_file.exists() else ""
        found.append(Device("video", path, name, f"thermal.device={path}"))
    return found


FINDERS: dict[str, Callable[[], list[Device]]] = {
    "serial ports": serial_ports, "audio inputs": audio_inputs,
    "RealSense cameras": realsense_cameras, "video devices (V4L2)": video_devices,
}


def find_devices() -> dict[str, tuple[list[Device], str | None]]:
    """Kind -> (devices, why the list may be incomplete: a missing library or its error)."""
    result = {}
    for kind, finder in FINDERS.items():
        try:
            result[kind] = (finder(), None)
        except EdgeBindError as exc:
            result[kind] = ([], str(exc))
        except Exception as exc:  # noqa: BLE001  (a library that loads but cannot list, e.g. no PortAudio)
            result[kind] = ([], f"cannot list them: {type(exc).__name__}: {exc}")
    return result
