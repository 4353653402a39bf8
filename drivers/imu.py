"""`imu`: an IMU on a serial port (USB-serial, UART), read with pyserial.

Chunks are `(float32 block x 6, rate_hz)` in m/s^2 and rad/s, with the first sample's device time
as `sensor_time` where the protocol carries one (csv). Unplugging (the port vanishes or reports
no data) becomes a Gap and the port is reopened by name every `reconnect_interval_s`.
Protocols: see `edgebind.drivers.imu_protocols`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgebind.config import check_choice
from edgebind.drivers.chunks import Item, SourceInfo, StreamInfo
from edgebind.drivers.imu_protocols import DEG, G, IMU_PROTOCOLS, ImuParser, Sample
from edgebind.drivers.source import SOURCES, Source, SourceConfig
from edgebind.errors import ConfigError, DeviceNotConnectedError, require

ACCEL_UNITS = {"m/s^2": 1.0, "g": G}
GYRO_UNITS = {"rad/s": 1.0, "deg/s": DEG}


@dataclass(kw_only=True)
class ImuConfig(SourceConfig):
    """A serial IMU: its port, baud rate, protocol and output rate."""

    type: str = "imu"
    port: str  # e.g. /dev/ttyUSB0, /dev/serial/by-id/..., COM3 (`edgebind devices` lists them)
    baudrate: int = 115200  # WitMotion modules default to 9600
    protocol: str = "csv"
    rate_hz: float = 200.0  # the rate the device is set to send samples at
    block: int = 10  # samples per chunk
    accel_unit: str = "m/s^2"  # csv only: what the firmware sends (m/s^2 or g)
    gyro_unit: str = "rad/s"  # csv only: rad/s or deg/s

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.protocol, IMU_PROTOCOLS.names(), "imu protocol")
        check_choice(self.accel_unit, tuple(ACCEL_UNITS), "imu accel_unit")
        check_choice(self.gyro_unit, tuple(GYRO_UNITS), "imu gyro_unit")
        if self.protocol != "csv" and (self.accel_unit, self.gyro_unit) != ("m/s^2", "rad/s"):
            raise ConfigError(f"imu accel_unit/gyro_unit apply to the csv protocol; {self.protocol} "
                              "packets have fixed units and are converted already")
        if self.block < 1 or not self.rate_hz > 0 or self.baudrate < 1:
            raise ConfigError("imu block, rate_hz and baudrate must be > 0")


@SOURCES.register("imu")
class ImuSource(Source):
    """Samples from the port, parsed by the configured protocol, in blocks of `block`."""

    config_cls = ImuConfig
    config: ImuConfig

    def __init__(self, config: ImuConfig) -> None:
        super().__init__(config)
        self.parser = self._new_parser()
        self._port = None
        self._samples: list[Sample] = []
        self._lost: Exception | None = None  # a loss seen while samples were still pending

    def _new_parser(self) -> ImuParser:
        c = self.config
        return IMU_PROTOCOLS.get(c.protocol)(ACCEL_UNITS[c.accel_unit], GYRO_UNITS[c.gyro_unit])

    def info(self) -> SourceInfo:
        c = self.config
        return SourceInfo(self.name, c.type, c.port,
                          (StreamInfo("imu", c.rate_hz, (c.block, 6), "float32", "m/s^2, rad/s"),),
                          {"protocol": c.protocol, "baudrate": c.baudrate})

    def _connect(self) -> None:
        serial = require("serial", "sensors", "the imu source")
        try:
            self._port = serial.Serial(self.config.port, self.config.baudrate, timeout=0.1)
        except (serial.SerialException, OSError) as exc:
            raise DeviceNotConnectedError(
                f"imu: cannot open {self.config.port} ({exc}); check the cable and the port name "
                "(`edgebind devices` lists serial ports)") from None
        self.parser, self._samples, self._lost = self._new_parser(), [], None

    def _disconnect(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    def _read(self) -> Sequence[Item]:
        if self._lost is not None:
            raise DeviceNotConnectedError(str(self._lost))
        serial = require("serial", "sensors", "the imu source")
        try:
            data = self._port.read(max(1, self._port.in_waiting))
        except (serial.SerialException, OSError) as exc:
            # Hand over what arrived before the loss first; the loss is raised on the next call.
            self._lost = DeviceNotConnectedError(f"imu: {self.config.port} stopped sending ({exc})")
            return self._blocks(flush=True)
        self._samples.extend(self.parser.feed(data))
        return self._blocks()

    def _blocks(self, flush: bool = False) -> list[Item]:
        """Chunks of `block` samples (and the remainder when `flush`)."""
        n, chunks, now = self.config.block, [], time.monotonic()
        while len(self._samples) >= n or (flush and self._samples):
            block, self._samples = self._samples[:n], self._samples[n:]
            data = np.array([values for _, values in block], dtype=np.float32)
            chunks.append(self.chunk("imu", (data, self.config.rate_hz), sensor_time=block[0][0], host_time=now))
        return chunks
