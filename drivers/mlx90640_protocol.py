"""The GY-MCU90640 serial protocol: an MLX90640 32x24 array behind the module's own STM32.

The module streams 1544-byte frames (115200 or 460800 baud), all fields little-endian 16-bit:

    bytes 0-1      0x5A 0x5A                header
    bytes 2-3      0x02 0x06 (0x0602=1538)  payload size: 768 pixels + ambient, in bytes
    bytes 4-1539   768 x int16              pixel temperatures in degC x 100, row by row (24 x 32)
    bytes 1540-41  int16                    the sensor's ambient temperature in degC x 100
    bytes 1542-43  uint16                   checksum: the sum of the 771 words before it, mod 2^16

(Layout: the module's user manual as transcribed by its users, e.g. vvkuryshev/GY-MCU90640-RPI-
Python; checksum rule: firmware emulating the module, which sums 0x5A5A, 0x0602, every pixel
word and the ambient word into a 16-bit check code.) `START_COMMAND` (0xA5 0x35 0x02 0xDC) asks
the module for continuous output.

The parser is fed whatever bytes arrived, returns the complete frames in them and keeps at most
one unfinished frame: bytes outside a valid frame are counted in `garbage` and skipped up to the
next header; a frame whose checksum or values are wrong is counted in `rejected` and resynchronised
past its first byte (a real frame may start inside it).
"""
from __future__ import annotations

import numpy as np

SYNC = b"\x5a\x5a\x02\x06"  # header and the one payload size: what a frame starts with
FRAME_BYTES = 1544
ROWS, COLS = 24, 32
START_COMMAND = bytes([0xA5, 0x35, 0x02, 0xDC])
ZERO_C_IN_CENTIKELVIN = 27315

Frame = tuple[np.ndarray, float]  # (uint16 24 x 32 centikelvin, ambient degC)


class Mlx90640Parser:
    """Bytes in, frames out: pixels as uint16 centikelvin (degC x 100 + 27315, exact) and the
    ambient temperature in degC."""

    max_pending = FRAME_BYTES - 1  # bytes kept between feeds, at most

    def __init__(self) -> None:
        self.garbage = 0  # bytes skipped while resynchronising
        self.rejected = 0  # frames with a wrong checksum or impossible temperatures
        self._pending = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held for an unfinished frame (bounded by `max_pending`)."""
        return len(self._pending)

    def feed(self, data: bytes) -> list[Frame]:
        buf, frames, i = self._pending + data, [], 0
        while True:
            start = buf.find(SYNC, i)
            if start < 0:  # keep a tail that may be the start of a header
                keep = max(i, len(buf) - (len(SYNC) - 1))
                self.garbage += keep - i
                i = keep
                break
            self.garbage += start - i
            i = start
            if len(buf) - i < FRAME_BYTES:
                break
            frame = self._frame(buf, i)
            if frame is None:
                self.rejected += 1
                self.garbage += 1
                i += 1
                continue
            frames.append(frame)
            i += FRAME_BYTES
        self._pending = buf[i:]
        return frames

    def _frame(self, buf: bytearray, i: int) -> Frame | None:
        words = np.frombuffer(buf, dtype="<u2", count=FRAME_BYTES // 2, offset=i)
        if int(words[:-1].sum(dtype=np.uint64)) & 0xFFFF != int(words[-1]):
            return None
        centi_c = words[2:-1].view("<i2").astype(np.int32)
        pixels = centi_c[:-1] + ZERO_C_IN_CENTIKELVIN
        if pixels.min() < 0 or pixels.max() > 0xFFFF:  # below 0 K or beyond uint16: not a reading
            return None
        return pixels.astype(np.uint16).reshape(ROWS, COLS), centi_c[-1] / 100


def gy_mcu90640_frame(centi_c: np.ndarray, ambient_centi_c: int) -> bytes:
    """One frame as the module sends it (pixels and ambient in degC x 100): for tests and
    simulators of the device."""
    words = np.concatenate([np.frombuffer(SYNC, "<u2"),
                            np.asarray(centi_c, np.int16).reshape(-1).view(np.uint16),
                            np.array([ambient_centi_c], np.int16).view(np.uint16)])
    if words.size != FRAME_BYTES // 2 - 1:
        raise ValueError(f"a GY-MCU90640 frame holds {ROWS * COLS} pixels, got {np.size(centi_c)}")
    checksum = np.array([int(words.sum(dtype=np.uint64)) & 0xFFFF], np.uint16)
    return np.concatenate([words, checksum]).astype("<u2").tobytes()
