"""Byte-stream parsers for serial IMUs, registered by protocol name in IMU_PROTOCOLS.

A parser is fed whatever bytes arrived, returns the complete samples in them and keeps at most one
unfinished record, so garbage, a cut cable or a wrong baud rate cost memory of one record, never
more. Bytes that are not part of a valid record are counted in `garbage` and skipped until the
next record boundary (resynchronisation). Samples are `(sensor_time_s or None, 6 floats)`:
accelerometer x, y, z in m/s^2 and gyroscope x, y, z in rad/s.

csv (edgebind's line protocol, for microcontroller firmware you write yourself): one ASCII line
per sample, `t,ax,ay,az,gx,gy,gz` ending in `\\n` (a `\\r` before it is fine), `t` the device's
clock in seconds; accel in m/s^2 (or g: `accel_unit: g`), gyro in rad/s (or `gyro_unit: deg/s`).
Lines starting with `#` are comments. Lines longer than 256 bytes are garbage.

witmotion (WitMotion HWT905/WT901/JY-61 and most 0x55 modules): 11-byte packets
`0x55, type, 4 x int16 LE, SUM` with SUM the low byte of the sum of the first 10 bytes;
0x51 accel raw/32768*16 g, 0x52 gyro raw/32768*2000 deg/s; other types are skipped. A sample is
complete when a gyro packet follows an accel packet. The device has no sample clock here (None).
"""
from __future__ import annotations

import math
import struct
from typing import Iterable

from edgebind.registry import Registry

G = 9.80665  # m/s^2 per g
DEG = math.pi / 180  # rad per degree
Sample = tuple["float | None", tuple[float, ...]]

IMU_PROTOCOLS: Registry[type["ImuParser"]] = Registry("IMU protocol")


class ImuParser:
    """Bytes in, samples out; `garbage` counts bytes skipped while resynchronising."""

    max_pending = 256  # bytes kept between feeds, at most

    def __init__(self, accel_scale: float = 1.0, gyro_scale: float = 1.0) -> None:
        self.accel_scale, self.gyro_scale = accel_scale, gyro_scale
        self.garbage = 0
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[Sample]:
        raise NotImplementedError

    @property
    def pending(self) -> int:
        """Bytes held for an unfinished record (bounded by `max_pending`)."""
        return len(self._pending)


@IMU_PROTOCOLS.register("csv")
class CsvParser(ImuParser):
    """`t,ax,ay,az,gx,gy,gz\\n` lines; units scaled by accel_scale / gyro_scale into m/s^2, rad/s."""

    def feed(self, data: bytes) -> list[Sample]:
        self._pending += data
        *lines, rest = self._pending.split(b"\n")
        if len(rest) > self.max_pending:  # no newline for too long: not our protocol, drop it
            self.garbage += len(rest)
            rest = b""
        self._pending = bytearray(rest)
        return [s for s in map(self._parse, lines) if s is not None]

    def _parse(self, line: bytes) -> Sample | None:
        text = line.strip()
        if not text or text.startswith(b"#"):
            return None
        try:
            values = [float(v) for v in text.split(b",")] if len(text) <= self.max_pending else []
        except ValueError:
            values = []
        if len(values) != 7 or not all(math.isfinite(v) for v in values):
            self.garbage += len(line) + 1
            return None
        t, *rest = values
        return t, _scaled(rest, self.accel_scale, self.gyro_scale)


@IMU_PROTOCOLS.register("witmotion")
class WitMotionParser(ImuParser):
    """WitMotion 0x55 packets: accel (0x51) then gyro (0x52) make one sample."""

    SIZE, SYNC, ACCEL, GYRO = 11, 0x55, 0x51, 0x52
    max_pending = 11

    def __init__(self, accel_scale: float = 1.0, gyro_scale: float = 1.0) -> None:
        super().__init__(accel_scale, gyro_scale)
        self._accel: tuple[float, ...] | None = None

    def feed(self, data: bytes) -> list[Sample]:
        buf, samples, i = self._pending + data, [], 0
        while len(buf) - i >= self.SIZE:
            if buf[i] != self.SYNC or not _checksum_ok(buf, i) or not 0x50 <= buf[i + 1] <= 0x5F:
                i += 1
                self.garbage += 1
                continue
            sample = self._packet(buf[i + 1], struct.unpack_from("<4h", buf, i + 2))
            if sample is not None:
                samples.append(sample)
            i += self.SIZE
        self._pending = buf[i:]
        return samples

    def _packet(self, kind: int, raw: tuple[int, ...]) -> Sample | None:
        if kind == self.ACCEL:
            self._accel = tuple(v / 32768 * 16 * G for v in raw[:3])
        elif kind == self.GYRO and self._accel is not None:
            gyro = tuple(v / 32768 * 2000 * DEG for v in raw[:3])
            accel, self._accel = self._accel, None
            return None, _scaled(accel + gyro, self.accel_scale, self.gyro_scale)
        return None


def _checksum_ok(buf: bytearray, i: int) -> bool:
    return sum(buf[i: i + 10]) & 0xFF == buf[i + 10]


def _scaled(values: Iterable[float], accel_scale: float, gyro_scale: float) -> tuple[float, ...]:
    values = tuple(values)
    return tuple(v * accel_scale for v in values[:3]) + tuple(v * gyro_scale for v in values[3:])


def witmotion_packet(kind: int, words: Iterable[int]) -> bytes:
    """One WitMotion packet (what the device sends): for tests and simulators of the device."""
    body = bytes([WitMotionParser.SYNC, kind]) + struct.pack("<4h", *words)
    return body + bytes([sum(body) & 0xFF])
