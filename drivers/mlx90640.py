"""`mlx90640`: an MLX90640 32x24 thermal array on a serial port (a GY-MCU90640 module over
USB-serial or a UART), read with pyserial; protocol in `edgebind.drivers.mlx90640_protocol`.

Its own source type (not a `format` of `thermal`): the port, baud rate and framing are serial
settings that a UVC camera does not have. Each chunk is one `ThermalFrame(uint16 24 x 32
centikelvin)`, with the module's ambient temperature in `meta["ambient_c"]`. On connect the module
is asked for continuous output (`start: false` leaves it as it is). Unplugging becomes a Gap and
the port is reopened by name every `reconnect_interval_s`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from edgebind.drivers.chunks import Item, SourceInfo, StreamInfo
from edgebind.drivers.mlx90640_protocol import COLS, ROWS, START_COMMAND, Mlx90640Parser
from edgebind.drivers.source import SOURCES, Source, SourceConfig
from edgebind.errors import ConfigError, DeviceNotConnectedError, require
from edgebind.frames import ThermalFrame


@dataclass(kw_only=True)
class Mlx90640Config(SourceConfig):
    """A GY-MCU90640 module: its port, baud rate and frame rate."""

    type: str = "mlx90640"
    port: str  # e.g. /dev/ttyUSB0, /dev/serial0 (`edgebind devices` lists serial ports)
    baudrate: int = 115200  # the module's default; 460800 where it was set so
    rate_hz: float = 4.0  # the refresh rate the module is set to (for info; frames come as sent)
    start: bool = True  # send the continuous-output command on connect

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.baudrate < 1 or not self.rate_hz > 0:
            raise ConfigError("mlx90640 baudrate and rate_hz must be > 0")


@SOURCES.register("mlx90640")
class Mlx90640Source(Source):
    """One ThermalFrame per module frame; garbage and bad frames are counted in `parser`."""

    config_cls = Mlx90640Config
    config: Mlx90640Config

    def __init__(self, config: Mlx90640Config) -> None:
        super().__init__(config)
        self.parser = Mlx90640Parser()
        self._port = None

    def info(self) -> SourceInfo:
        c = self.config
        return SourceInfo(self.name, c.type, c.port,
                          (StreamInfo("thermal", c.rate_hz, (ROWS, COLS), "uint16", "centikelvin"),),
                          {"protocol": "gy-mcu90640", "baudrate": c.baudrate})

    def _connect(self) -> None:
        serial = require("serial", "sensors", "the mlx90640 source")
        try:
            self._port = serial.Serial(self.config.port, self.config.baudrate, timeout=0.1)
            if self.config.start:
                self._port.write(START_COMMAND)
        except (serial.SerialException, OSError) as exc:
            self._disconnect()
            raise DeviceNotConnectedError(
                f"mlx90640: cannot open {self.config.port} ({exc}); check the cable and the port name "
                "(`edgebind devices` lists serial ports)") from None
        self.parser = Mlx90640Parser()

    def _disconnect(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    def _read(self) -> Sequence[Item]:
        serial = require("serial", "sensors", "the mlx90640 source")
        try:
            data = self._port.read(max(1, self._port.in_waiting))
        except (serial.SerialException, OSError) as exc:
            raise DeviceNotConnectedError(f"mlx90640: {self.config.port} stopped sending ({exc})") from None
        now = time.monotonic()
        return [self.chunk("thermal", ThermalFrame(pixels, "centikelvin"), host_time=now,
                           meta={"ambient_c": ambient}) for pixels, ambient in self.parser.feed(data)]
