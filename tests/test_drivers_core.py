"""The Source interface: bounded drop-oldest hand-over with an explicit Gap, strict configs picked by
`type`, the life cycle (open/close/iterate), and device loss becoming a Gap and a reconnect."""
import threading
import time

import pytest

from edgebind.drivers import SOURCES, Chunk, Gap, Source, SourceConfig, SourceInfo, State, build_source, source_config
from edgebind.drivers.buffer import ChunkBuffer
from edgebind.errors import ConfigError, DeviceError, DeviceNotConnectedError


def _chunk(i: int) -> Chunk:
    return Chunk("s", "imu", i, host_time=float(i), seq=i)


def test_full_buffer_drops_the_oldest_and_says_so_with_one_gap():
    buf = ChunkBuffer("s", capacity=3)
    for i in range(5):
        buf.put(_chunk(i))
    gap = buf.get(0)
    assert isinstance(gap, Gap) and gap.dropped == 2 and "2 chunk(s) dropped" in gap.reason
    assert [buf.get(0).data for _ in range(3)] == [2, 3, 4] and buf.drops == 2
    assert buf.get(0.01) is None  # empty: times out


def test_a_dropped_gap_is_still_reported():
    buf = ChunkBuffer("s", capacity=1)
    buf.put(Gap("s", "device lost: unplugged", 0.0))
    buf.put(_chunk(1))
    gap = buf.get(0)
    assert "device lost: unplugged" in gap.reason and buf.get(0).data == 1


def test_lossless_buffer_waits_for_the_consumer_instead_of_dropping():
    buf = ChunkBuffer("s", capacity=2, lossless=True)
    producer = threading.Thread(target=lambda: [buf.put(_chunk(i)) for i in range(50)])
    producer.start()
    got = []
    while len(got) < 50:
        got.append(buf.get(1).data)
    producer.join(1)
    assert got == list(range(50)) and buf.drops == 0


def test_buffer_hands_over_the_producers_error_after_the_last_item():
    buf = ChunkBuffer("s", capacity=4)
    buf.put(_chunk(0))
    buf.close(DeviceError("boom"))
    assert buf.get(0).data == 0
    with pytest.raises(DeviceError, match="boom"):
        buf.get(0)
    assert buf.get(0) is None and buf.exhausted


def test_source_configs_are_strict_and_typed_by_name():
    config = source_config({"type": "sim", "modality": "imu", "queue_size": 8})
    assert type(config).__name__ == "SimConfig" and config.queue_size == 8
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['modalty'\]"):
        source_config({"type": "sim", "modalty": "imu"}, "profile.sensors[0]")
    with pytest.raises(ConfigError, match="unknown source 'lidar'; choose one of: .*sim"):
        source_config({"type": "lidar"})
    with pytest.raises(ConfigError, match="needs a 'type' key"):
        source_config({"modality": "imu"})
    with pytest.raises(ConfigError, match="queue_size must be >= 1"):
        source_config({"type": "sim", "queue_size": 0})
    assert "sim" in SOURCES


def test_life_cycle_open_iterate_close():
    source = build_source({"type": "sim", "modality": "imu", "speed": 0, "duration_s": 0.5})
    with pytest.raises(DeviceNotConnectedError, match="is not open; use `with source:`"):
        source.read()
    with source:
        items = list(source)
        assert source.finished and source.status.state is State.FINISHED
        with pytest.raises(DeviceError, match="already opened; create a new Source"):
            source.open()
    assert len(items) == 10 and [c.seq for c in items] == list(range(10))
    source.close()  # idempotent
    assert source.status.state is State.CLOSED and source.status.chunks == 10


def test_slow_consumer_of_a_live_source_gets_gaps_that_count_every_drop():
    source = build_source({"type": "sim", "modality": "imu", "speed": 20, "duration_s": 4, "queue_size": 2})
    with source:
        items = []
        for item in source:
            items.append(item)
            time.sleep(0.02)
    chunks = [i for i in items if isinstance(i, Chunk)]
    dropped = sum(i.dropped for i in items if isinstance(i, Gap))
    assert dropped > 0 and dropped == source.status.drops
    assert len(chunks) + dropped == source.status.chunks == 80


@pytest.mark.parametrize("reconnect", [True, False])
def test_device_loss_becomes_a_gap_then_a_reconnect(reconnect):
    class Flaky(Source):
        """Loses its device after two chunks, once; the base class must mark it and reconnect."""

        def __init__(self, config):
            super().__init__(config)
            self.connects, self.n = 0, 0

        def info(self):
            return SourceInfo(self.name, "flaky", "test", ())

        def _connect(self):
            self.connects += 1

        def _read(self):
            self.n += 1
            if self.n == 3:
                raise DeviceNotConnectedError("cable pulled")
            return None if self.n > 5 else [self.chunk("imu", self.n)]

    source = Flaky(SourceConfig(type="flaky", reconnect=reconnect, reconnect_interval_s=0.01))
    with source:
        if not reconnect:
            with pytest.raises(DeviceNotConnectedError, match="cable pulled"):
                list(source)
            assert source.status.state is State.FAILED
            return
        items = list(source)
    assert [type(i).__name__ for i in items] == ["Chunk", "Chunk", "Gap", "Chunk", "Chunk"]
    assert "device lost: cable pulled" in items[2].reason and source.connects == 2
    assert (source.status.reconnects, source.status.gaps) == (1, 1)
