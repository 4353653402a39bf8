"""Property tests of the serial IMU parsers: random bytes in any split never crash, hang or grow
memory, and valid records embedded in noise are all recovered."""
import struct

import pytest

from edgebind.drivers.imu_protocols import IMU_PROTOCOLS, CsvParser, WitMotionParser, witmotion_packet

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

FAST = settings(max_examples=150, deadline=500)
words = st.tuples(*[st.integers(-32768, 32767)] * 3)
chunks_of = st.lists(st.binary(max_size=300), max_size=30)


def _feed_split(parser, data: bytes, cuts: list[int]) -> list:
    """Feed `data` cut at `cuts` (as bytes arrive from a port in arbitrary pieces)."""
    out, start = [], 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        out += parser.feed(data[start:cut])
        start = max(start, cut)
    return out


@FAST
@given(name=st.sampled_from(IMU_PROTOCOLS.names()), pieces=chunks_of)
def test_random_bytes_never_crash_and_keep_memory_bounded(name, pieces):
    parser = IMU_PROTOCOLS.get(name)()
    for piece in pieces:
        for _, values in parser.feed(piece):
            assert len(values) == 6
        assert parser.pending <= parser.max_pending


@FAST
@given(samples=st.lists(st.tuples(words, words), min_size=1, max_size=20),
       noise=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\x55", b"")), max_size=21),
       cuts=st.lists(st.integers(0, 10_000), max_size=10))
def test_witmotion_packets_in_noise_are_all_recovered(samples, noise, cuts):
    stream = b""
    for i, (accel, gyro) in enumerate(samples):
        stream += (noise[i] if i < len(noise) else b"") + witmotion_packet(0x51, (*accel, 0))
        stream += witmotion_packet(0x52, (*gyro, 0))
    got = _feed_split(WitMotionParser(), stream, cuts)
    expected = [WitMotionParser().feed(witmotion_packet(0x51, (*a, 0)) + witmotion_packet(0x52, (*g, 0)))[0]
                for a, g in samples]
    assert got == expected


@FAST
@given(values=st.lists(st.tuples(*[st.floats(-1e6, 1e6, allow_nan=False)] * 7), min_size=1, max_size=20),
       noise=st.lists(st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")), max_size=21),
       cuts=st.lists(st.integers(0, 10_000), max_size=10))
def test_csv_lines_between_garbage_lines_are_all_recovered(values, noise, cuts):
    stream = b""
    for i, row in enumerate(values):
        garbage = noise[i] + b"\n" if i < len(noise) else b""
        stream += garbage + (",".join(repr(v) for v in row) + "\n").encode()
    got = [(t, list(v)) for t, v in _feed_split(CsvParser(), stream, cuts)]
    expected = [(row[0], list(row[1:])) for row in values]
    it = iter(got)  # every valid line, in order; a noise line may itself happen to be valid
    assert all(any(g == e for g in it) for e in expected)


def test_a_corrupted_packet_costs_only_itself():
    good = witmotion_packet(0x51, (1, 2, 3, 0)) + witmotion_packet(0x52, (4, 5, 6, 0))
    bad = bytearray(good)
    bad[5] ^= 0xFF  # flips a data byte of the accel packet: its checksum no longer matches
    parser = WitMotionParser()
    assert parser.feed(bytes(bad) + good) == WitMotionParser().feed(good)
    assert struct.unpack("<h", good[2:4])[0] == 1 and parser.garbage > 0
