"""Property tests of the GY-MCU90640 (MLX90640) frame parser: random bytes in any split never
crash or grow memory, and valid frames embedded in noise are all recovered, exactly."""
import numpy as np
import pytest

from edgebind.drivers.mlx90640_protocol import FRAME_BYTES, SYNC, Mlx90640Parser, gy_mcu90640_frame

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

FAST = settings(max_examples=60, deadline=1000)
# Noise, with headers (real and cut short) mixed in so that the resynchronising paths run.
noise_pieces = st.lists(st.one_of(st.binary(max_size=400), st.just(SYNC), st.just(SYNC[:3]),
                                  st.binary(min_size=1540, max_size=1540).map(lambda b: SYNC + b)), max_size=12)
temps = st.integers(-27315, 32767)  # degC x 100 that a uint16 centikelvin holds
frames_of = st.lists(st.tuples(st.lists(temps, min_size=768, max_size=768), st.integers(-4000, 8500)),
                     min_size=1, max_size=6)


def _feed_split(parser, data: bytes, cuts: list[int]) -> list:
    """Feed `data` cut at `cuts` (as bytes arrive from a port in arbitrary pieces)."""
    out, start = [], 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        out += parser.feed(data[start:cut])
        start = max(start, cut)
    return out


@FAST
@given(pieces=noise_pieces)
def test_random_bytes_never_crash_and_keep_memory_bounded(pieces):
    parser = Mlx90640Parser()
    for piece in pieces:
        for pixels, ambient in parser.feed(piece):  # a noise frame may pass its 16-bit checksum
            assert pixels.shape == (24, 32) and pixels.dtype == np.uint16 and -327.68 <= ambient < 327.68
        assert parser.pending <= parser.max_pending < FRAME_BYTES


@FAST
@given(frames=frames_of, noise=st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\x5a", b"")), max_size=7),
       cuts=st.lists(st.integers(0, 20_000), max_size=12))
def test_frames_in_noise_are_all_recovered_exactly(frames, noise, cuts):
    stream = b"".join((noise[i] if i < len(noise) else b"") + gy_mcu90640_frame(np.array(t), a)
                      for i, (t, a) in enumerate(frames))
    got = _feed_split(Mlx90640Parser(), stream, cuts)
    assert len(got) == len(frames)
    for (pixels, ambient), (t, a) in zip(got, frames):
        np.testing.assert_array_equal(pixels, np.array(t).reshape(24, 32) + 27315)
        assert ambient == a / 100


def test_a_corrupted_frame_costs_only_itself_and_is_counted():
    frame = gy_mcu90640_frame(np.full((24, 32), 2100), 2000)
    bad = bytearray(frame)
    bad[-1] ^= 0x80  # the checksum itself
    parser = Mlx90640Parser()
    [(pixels, ambient)] = parser.feed(bytes(bad) + frame)
    assert pixels[0, 0] == 2100 + 27315 and ambient == 20.0
    assert parser.rejected == 1 and parser.garbage == FRAME_BYTES and parser.pending == 0


def test_a_frame_below_absolute_zero_is_rejected_though_its_checksum_holds():
    parser = Mlx90640Parser()
    assert parser.feed(gy_mcu90640_frame(np.full((24, 32), -30000), 2000)) == []
    assert parser.rejected == 1
