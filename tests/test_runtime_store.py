"""The node's on-disk store: exact filtered top-k, events, restarts, a SIGKILLed writer, retention,
foreign files and other models' stores, on real SQLite files with sqlite-vec."""
from __future__ import annotations

import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgebind.errors import InputError, StoreError
from edgebind.frames import DepthFrame
from edgebind.runtime.detector import Detection
from edgebind.runtime.node_config import Embedding
from edgebind.runtime.store import Store
from edgebind.runtime.windows import Window

MODALITIES = ("audio", "depth", "thermal", "imu")


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def embeddings(vectors: np.ndarray, t0: float = 0.0, modalities=MODALITIES, source: str = "s") -> list[Embedding]:
    """One embedding a second from t0, the modalities taking turns."""
    return [Embedding(f"{source}_{modalities[i % len(modalities)]}", modalities[i % len(modalities)],
                      t0 + i, t0 + i + 2.0, v) for i, v in enumerate(vectors)]


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int, keep: np.ndarray | None = None) -> list[int]:
    """Ids (1-based insertion order) of the k best cosine matches among rows where `keep`."""
    scores = vectors @ query
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    order = np.argsort(-scores, kind="stable")[:k]
    return [int(i) + 1 for i in order if np.isfinite(scores[i])]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


def test_top_k_is_exact_and_filters_apply_inside_the_scan(path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = unit(rng, 3000, 32)
    with Store(path, 32, "tiny") as store:
        store.add(embeddings(vectors), wall_offset=1000.0)
        store.flush()
        modality = np.array([MODALITIES[i % 4] for i in range(len(vectors))])
        t_start = 1000.0 + np.arange(len(vectors))
        for query in unit(rng, 5, 32):
            moments = store.query(query, k=10)
            assert [m.id for m in moments] == brute_force(vectors, query, 10)
            np.testing.assert_allclose([m.score for m in moments], np.sort(vectors @ query)[::-1][:10], atol=1e-5)
            filtered = store.query(query, k=7, modalities=["depth", "imu"], since=1500.0, until=2500.0)
            keep = np.isin(modality, ["depth", "imu"]) & (t_start >= 1500) & (t_start <= 2500)
            assert [m.id for m in filtered] == brute_force(vectors, query, 7, keep)
        m = moments[0]
        assert (m.source, m.modality, m.t_start, m.t_end) == (f"s_{modality[m.id - 1]}", modality[m.id - 1],
                                                              t_start[m.id - 1], t_start[m.id - 1] + 2)


def test_a_filtered_query_returns_k_where_post_filtering_the_top_k_would_not(path: Path) -> None:
    rng = np.random.default_rng(1)
    query = unit(rng, 1, 16)[0]
    near = unit(rng, 200, 16) * 0.1 + query  # 200 audio moments close to the query, early on
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    far = unit(rng, 50, 16)  # 50 depth moments, later, scattered
    with Store(path, 16, "tiny") as store:
        store.add(embeddings(near, modalities=("audio",)), wall_offset=0.0)
        store.add(embeddings(far, t0=1000.0, modalities=("depth",)), wall_offset=0.0)
        store.flush()
        assert {m.modality for m in store.query(query, k=100)} == {"audio"}  # the global top 100
        depth = store.query(query, k=5, modalities=["depth"])
        assert [m.id for m in depth] == [200 + i for i in brute_force(far, query, 5)]
        recent = store.query(query, k=5, since=1000.0)
        assert [m.id for m in recent] == [m.id for m in depth]
        assert store.query(query, k=5, modalities=["thermal"]) == []


def test_events_round_trip_with_their_snapshots(path: Path) -> None:
    depth = np.arange(12, dtype=np.uint16).reshape(3, 4)
    audio = np.linspace(-1, 1, 32000, dtype=np.float32)
    snapshot = {"cam/depth": Window("cam", "depth", 9.5, 9.5, DepthFrame(depth, 0.05, 380.0)),
                "mic/audio": Window("mic", "audio", 8.0, 10.0, (audio, 16000.0), level_db=-12.0)}
    start = Detection("start", "glass breaking", "mic", "audio", 10.0, 0.91, 10.0, snapshot)
    end = Detection("end", "glass breaking", "mic", "audio", 14.0, 0.97, 10.0)
    rng = np.random.default_rng(2)
    vectors = unit(rng, 30, 8)
    with Store(path, 8, "tiny") as store:
        store.add(embeddings(vectors), wall_offset=1e9)  # moments from 1e9 + 0 .. 29 s
        store.add_event(start, wall_offset=1e9)
        store.add_event(Detection("start", "dog barking", "mic", "audio", 20.0, 0.7, 20.0), wall_offset=1e9)
        store.add_event(end, wall_offset=1e9)
        store.flush()
        barking, glass = store.events()
        assert (glass.event, glass.source, glass.modality, glass.t_open, glass.t_close, glass.score, glass.peak) == \
            ("glass breaking", "mic", "audio", 1e9 + 10, 1e9 + 14, 0.91, 0.97)
        assert (barking.event, barking.t_close, barking.snapshot) == ("dog barking", None, None)
        assert [e.event for e in store.events(names=["dog barking"])] == ["dog barking"]
        assert [e.event for e in store.events(until=1e9 + 15)] == ["glass breaking"]
        arrays = store.snapshot(glass.snapshot)
        np.testing.assert_array_equal(arrays["cam/depth.data.depth"], depth)
        np.testing.assert_array_equal(arrays["mic/audio.data.0"], audio)
        assert arrays["mic/audio.data.1"] == 16000.0 and arrays["cam/depth.data.focal_px"] == 380.0
        # moments during the event point at its snapshot, the others at none
        by_start = {m.t_start - 1e9: m.snapshot for m in store.query(vectors[0], k=30)}
        assert {t for t, ref in by_start.items() if ref == glass.snapshot} == set(range(8, 15))
        assert {ref for t, ref in by_start.items() if not 8 <= t <= 14} == {None}
        with pytest.raises(StoreError, match="no snapshot 99"):
            store.snapshot(99)


def test_a_snapshot_keeps_what_fits_its_bound(path: Path) -> None:
    big, small = np.zeros(10_000, np.float32), np.ones(100, np.float32)
    with Store(path, 8, "tiny", max_snapshot_bytes=1000) as store:
        store.add_event(Detection("start", "e", "s", "audio", 1.0, 0.9, 1.0, {"a": big, "b": small}))
        store.flush()
        assert set(store.snapshot(store.events()[0].snapshot)) == {"b"}


def test_the_memory_survives_a_restart(path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = unit(rng, 500, 16)
    with Store(path, 16, "tiny") as store:
        store.add(embeddings(vectors), wall_offset=0.0)
        store.add_event(Detection("start", "left open", "s", "audio", 100.0, 0.8, 100.0), wall_offset=0.0)
        store.flush()
        before = store.query(vectors[42], k=5)
    with Store(path, 16, "tiny") as store:
        assert store.query(vectors[42], k=5) == before and before[0].id == 43
        assert store.stats()["rows"] == 500
        (event,) = store.events()
        assert event.t_close == 499 + 2.0  # a killed node's open event closes at its last moment
        store.add(embeddings(vectors[:1], t0=1000.0), wall_offset=0.0)
        store.flush()
        assert store.query(vectors[0], k=2, since=999.0)[0].id == 501


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from edgebind.runtime.node_config import Embedding
    from edgebind.runtime.store import Store
    store = Store(sys.argv[1], 8, "tiny")
    vector = np.full(8, 8 ** -0.5, np.float32)
    store.add([Embedding("mic", "audio", time.monotonic(), time.monotonic(), vector)])
    store.flush()
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        store.add([Embedding("mic", "audio", now, now, vector)])
        time.sleep(0.005)
""")


def test_a_sigkilled_writer_loses_at_most_about_a_second(path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env)
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(timeout=30), "the writer did not start within 30 s"
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(2.0)  # let it write (and commit several times)
    finally:
        killed_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with Store(path, 8, "tiny") as store:
        vector = np.full(8, 8 ** -0.5, np.float32)
        latest = store.query(vector, k=1, since=killed_at - 1.0)
        assert latest, f"nothing stored in the last second before the kill ({store.stats()})"
        assert store.stats()["rows"] > 100


def test_retention_by_age_deletes_old_moments_and_closed_events(path: Path) -> None:
    rng = np.random.default_rng(4)
    vectors = unit(rng, 200, 8)
    now = time.time()
    with Store(path, 8, "tiny", max_age_s=30.0) as store:
        store.add_event(Detection("start", "old", "s", "audio", 0.0, 0.9, 0.0, {"a": np.ones(3)}), wall_offset=now - 100)
        store.add_event(Detection("end", "old", "s", "audio", 5.0, 0.9, 0.0), wall_offset=now - 100)
        store.add_event(Detection("start", "still open", "s", "audio", 0.0, 0.9, 0.0), wall_offset=now - 100)
        store.add(embeddings(vectors[:100]), wall_offset=now - 200)  # 200..101 s ago
        store.add(embeddings(vectors[100:]), wall_offset=now - 99.5)  # 99.5..0.5 s ago
        store.flush()
        assert [e.event for e in store.events()] == ["still open"]
        stats = store.stats()
        assert (stats["rows"], stats["snapshots"]) == (30, 0)
        assert min(m.t_start for m in store.query(vectors[150], k=200)) >= now - 30


def test_retention_by_size_bounds_the_file_and_reuses_its_space(path: Path) -> None:
    rng = np.random.default_rng(5)
    max_bytes = 2 << 20
    sizes = []
    with Store(path, 64, "tiny", max_bytes=max_bytes) as store:
        for round_ in range(40):
            store.add(embeddings(unit(rng, 500, 64), t0=round_ * 500.0), wall_offset=0.0)
            store.flush()
            sizes.append(store.stats()["bytes"])
        rows = store.stats()["rows"]
        # deleted rows must free their space (sqlite-vec >= 0.1.7), else retention empties the store
        assert 2000 < rows < 8000, f"{rows} rows kept; file sizes {sizes}"
        assert max(sizes) <= max_bytes, sizes
        assert sizes[-1] <= max(sizes[10:20]), f"the file kept growing: {sizes}"
        newest = store.query(unit(rng, 1, 64)[0], k=rows)
        assert min(m.id for m in newest) == 20_000 - rows + 1  # the oldest went


def test_one_writer_and_concurrent_readers(path: Path) -> None:
    rng = np.random.default_rng(6)
    vectors = unit(rng, 2000, 16)
    errors: list[BaseException] = []
    with Store(path, 16, "tiny", commit_interval_s=0.05) as store:
        done = threading.Event()

        def read() -> None:
            try:
                while not done.is_set():
                    for moment in store.query(vectors[0], k=3, modalities=["audio"]):
                        assert moment.modality == "audio"
            except BaseException as exc:  # noqa: BLE001  (handed to the test)
                errors.append(exc)

        readers = [threading.Thread(target=read) for _ in range(2)]
        for thread in readers:
            thread.start()
        for i in range(0, 2000, 100):
            store.add(embeddings(vectors[i:i + 100], t0=float(i)), wall_offset=0.0)
        store.flush()
        done.set()
        for thread in readers:
            thread.join()
        assert not errors and store.stats()["rows"] == 2000
        assert store.query(vectors[0], k=1)[0].id == 1


def test_a_full_queue_drops_the_oldest_embeddings(path: Path) -> None:
    vectors = unit(np.random.default_rng(7), 250, 8)
    with Store(path, 8, "tiny", commit_interval_s=5.0, max_pending=100) as store:
        store.add(embeddings(vectors), wall_offset=0.0)
        store.flush()
        stats = store.stats()
        assert (stats["rows"], stats["dropped"]) == (100, 150)
        assert min(m.id for m in store.query(vectors[0], k=100)) == 1  # ids count stored rows
        assert min(m.t_start for m in store.query(vectors[0], k=100)) == 150.0


def _foreign_sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes(text TEXT)")
    con.execute("INSERT INTO notes VALUES ('keep me')")
    con.commit()
    con.close()


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("robot config: do not delete\n"), "not an edgebind store \\(not a SQLite database\\)"),
    (lambda p: p.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 32), "corrupt or unreadable store"),
    (_foreign_sqlite, "a SQLite database but not an edgebind store \\(no meta table\\)"),
])
def test_a_foreign_or_corrupt_file_is_an_error_and_left_untouched(path: Path, make, message: str) -> None:
    make(path)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=message):
        Store(path, 8, "tiny")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_store_of_another_model_is_an_error_naming_both(path: Path) -> None:
    Store(path, 64, "edgebind-tiny").close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="model 'edgebind-tiny' \\(dim 64\\), not of this node's model "
                                         "'edgebind-small' \\(dim 512\\)"):
        Store(path, 512, "edgebind-small")
    with pytest.raises(StoreError, match="model 'edgebind-tiny' \\(dim 64\\), not of this node's model "
                                         "'other' \\(dim 64\\)"):
        Store(path, 64, "other")
    assert path.read_bytes() == before


def test_bad_inputs_are_errors(path: Path) -> None:
    store = Store(path, 8, "tiny")
    with pytest.raises(InputError, match="must be 8 finite floats"):
        store.add([Embedding("s", "audio", 0.0, 1.0, np.ones(9, np.float32))])
    with pytest.raises(InputError, match="must be 8 finite floats"):
        store.add([Embedding("s", "audio", 0.0, 1.0, np.full(8, np.nan, np.float32))])
    with pytest.raises(InputError, match="a query must be 8 finite floats, not all zero"):
        store.query(np.zeros(8))
    with pytest.raises(InputError, match="k must lie in"):
        store.query(np.ones(8), k=0)
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.add([Embedding("s", "audio", 0.0, 1.0, np.ones(8, np.float32))])
