"""The node end to end over the sim sensors and the shipped model: detections match the sim's
ground truth, a slow model drops windows instead of stalling capture, outputs reach callbacks,
sinks and the command line, and the node never imports the training stack."""
import dataclasses
import json
import signal
import subprocess
import sys
import time

import pytest

from edgebind.cli.main import main
from edgebind.errors import ConfigError
from edgebind.runtime import Detection, Embedding, Node
from edgebind.runtime.backend import TorchBackend, TorchConfig
from edgebind.runtime.profile import SIM_CALIBRATION, node_config
from edgebind.runtime.scoring import detection_report

SIM = ("audio", "depth", "thermal", "imu")


def _sim(seconds: float, speed: float = 0, modalities=SIM) -> list:
    return [{"type": "sim", "modality": m, "name": f"sim_{m}", "speed": speed, "duration_s": seconds}
            for m in modalities]


@pytest.fixture(scope="module")
def backend():
    return TorchBackend(TorchConfig())


def test_the_shipped_sim_calibration_serves_an_export_of_the_shipped_model_only(tmp_path):
    # An export directory is known by its manifest; its vectors are its source model's.
    for name, source in (("tiny", "edgebind-tiny-synthetic"), ("other", "runs/bind")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"format_version": 1, "model_id": source, "encoders": {}}))
    assert node_config(sensors=_sim(5.0), backend={"model": str(tmp_path / "tiny"), "type": "onnxruntime"}
                       ).calibration == str(SIM_CALIBRATION)
    assert node_config(sensors=_sim(5.0), backend={"model": str(tmp_path / "other"), "type": "onnxruntime"}
                       ).calibration is None


def test_the_default_node_detects_the_sim_events(backend):
    config = node_config(sensors=_sim(80.0))
    assert [e.name for e in config.events][:3] == ["drone", "fan", "dog"]
    assert config.calibration == str(SIM_CALIBRATION)
    with Node(config, backend=backend) as node:
        items = list(node)
        stats = node.stats()
    embeddings = [i for i in items if isinstance(i, Embedding)]
    detections = [i for i in items if isinstance(i, Detection)]
    assert {e.modality for e in embeddings} == set(SIM) and stats["window_drops"] == 0
    # (80 - 2) / 0.5 + 1 regular windows, and 5 onset windows for each of the 10 sounds starting
    assert stats["streams"]["sim_audio/audio"]["windows"] == 157 + 10 * 5
    assert all(s["cpu_percent"] > 0 and s["windows_per_s"] > 0 for s in stats["streams"].values())
    assert all(e.vector.shape == (64,) and set(e.scores) == {ev.name for ev in config.events} for e in embeddings)
    starts = [d for d in detections if d.kind == "start"]
    assert len(starts) == sum(d.kind == "end" for d in detections)  # every event that opened, closed
    report = detection_report(detections, truth_events=10)
    for modality in ("audio", "imu"):
        assert report[modality]["precision"] >= 0.8 and report[modality]["recall"] >= 0.6, report
    assert starts[0].snapshot and all(k.count("/") == 1 for k in starts[0].snapshot)


def _first_starts(config, backend) -> dict:
    """Scene -> the first correct start of its event, and every start, of a node run."""
    with Node(config, backend=backend) as node:
        starts = [d for d in node if isinstance(d, Detection) and d.kind == "start"]
    first = {}
    for d in starts:
        if d.meta.get("event") and d.meta["label"] == d.event:
            first.setdefault(d.meta["scene"], d)
    return first, starts


def test_the_onset_path_fires_within_a_hop_and_100_ms_of_each_sim_onset(backend):
    config = node_config(sensors=_sim(40.0, modalities=("audio",)))  # 5 scenes, onsets at 3, 11, ... 35 s
    first, starts = _first_starts(config, backend)
    latency = {scene: d.t - d.meta["onset_host"] for scene, d in first.items()}  # sim time
    assert sorted(latency) == [0, 1, 2, 3, 4] and len(starts) == 5, starts  # each event once, nothing else
    assert all(d.onset for d in first.values()) and max(latency.values()) <= config.windows.hop_s + 0.1, latency
    for d in first.values():  # the snapshot holds the sound's start, not only the regular window before it
        audio = d.snapshot["sim_audio/audio"]
        assert audio.t_end == pytest.approx(d.t) and audio.t_start < d.meta["onset_host"] < audio.t_end
        assert len(audio.data[0]) == 2 * audio.data[1]  # the model's 2 s clip, as recorded
    without = dataclasses.replace(config, windows=dataclasses.replace(config.windows, onset=False))
    late, _ = _first_starts(without, backend)  # the 2 s windows alone: a second or more
    assert min(d.t - d.meta["onset_host"] for d in late.values()) >= 1.0


class SlowBackend(TorchBackend):
    """The real backend, slowed down: what a model too big for the machine looks like."""

    def embed(self, modality, items):
        if modality != "text":
            time.sleep(0.3 * len(items))
        return super().embed(modality, items)


def test_a_slow_model_drops_windows_instead_of_stalling_capture():
    config = node_config(sensors=_sim(None, speed=4, modalities=("audio", "imu")), detect=["a dog"])
    config.queue_size = 2
    with Node(config, backend=SlowBackend(TorchConfig(batch_size=1))) as node:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            node.read(0.1)
        stats = node.stats()
    assert stats["window_drops"] == sum(s["dropped"] for s in stats["streams"].values()) > 0
    assert all(s.drops == 0 and s.chunks > 0 for s in stats["sources"].values())  # capture kept up


def test_callbacks_get_every_detection_and_names_are_checked(backend):
    config = node_config(sensors=_sim(30.0, modalities=("audio",)))
    node = Node(config, backend=backend)
    seen = []
    node.on_event("*", seen.append)
    with pytest.raises(ConfigError, match="no event named 'nope'; the node detects: bell, car, dog"):
        node.on_event("nope", print)
    with node:
        outputs = [i for i in node if isinstance(i, Detection)]
    assert seen == outputs and outputs


def test_profiles_and_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"node: unknown key\(s\) \['sensor'\] for NodeConfig"):
        node_config({"sensor": []})
    with pytest.raises(ConfigError, match=r"events\[0\]: missing required key\(s\) \['name'\]"):
        node_config({"events": [{"prompts": ["a dog"]}]})
    with pytest.raises(ConfigError, match="--detect '|': give the event as text"):
        node_config(detect=["|"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("sensors: [unclosed\n")
    assert main(["run", "--profile", str(bad)]) == 2
    assert main(["run", "--profile", str(tmp_path / "missing.yaml")]) == 2


def test_run_and_calibrate_commands(tmp_path, capsys):
    out = tmp_path / "events.jsonl"
    sim = ["--sensors", "sim_audio", "--set", "sim_audio.speed=0", "--set", "sim_audio.duration_s=20"]
    assert main(["run", *sim, "--no-live", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records and {r["kind"] for r in records} == {"start", "end"}
    assert all(abs(r["wall_time"] - time.time()) < 600 for r in records)
    assert "sim_audio/audio        windows=52 embedded=52" in capsys.readouterr().out  # 37 + 3 onsets x 5
    assert main(["run", *sim, "--no-live", "--no-onset"]) == 0
    assert "sim_audio/audio        windows=37 embedded=37" in capsys.readouterr().out
    assert main(["run", *sim, "--no-live", "--precision", "int8"]) == 2
    assert "int8 runs from an export directory, not from the torch model 'edgebind-tiny-synthetic'" \
        in capsys.readouterr().err

    calibration = tmp_path / "quiet.json"
    assert main(["calibrate", "--sensors", "sim_audio", "--set", "sim_audio.events=false", "--set",
                 "sim_audio.speed=0", "--set", "sim_audio.duration_s=30", "--detect", "a dog",
                 "--out", str(calibration)]) == 0
    saved = json.loads(calibration.read_text())
    assert saved["model"] == "edgebind-tiny-synthetic" and set(saved["thresholds"]) == {"a dog"}
    assert set(saved["thresholds"]["a dog"]) == {"audio", "audio/onset"} and saved["windows"]["audio/onset"] == 0
    assert main(["calibrate", "--sensors", "sim_audio", "--detect", "a dog", "--out", str(calibration)]) == 2
    assert "live sensors never end: give --duration" in capsys.readouterr().err


def test_the_node_imports_no_training_code():
    code = ("import sys; from edgebind.runtime import Node; from edgebind.runtime.profile import node_config;"
            "node = Node(node_config()); node.backend;"
            "print(sorted(m for m in sys.modules if m.startswith('edgebind.training')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_a_node_remembers_what_it_embedded_and_answers_queries(tmp_path, backend):
    from edgebind.synthetic import prompt_ensemble

    store = tmp_path / "memory.db"
    config = node_config(sensors=_sim(24.0, modalities=("audio", "imu")), store={"path": str(store)})
    with Node(config, backend=backend) as node:
        embedded = [i for i in node if isinstance(i, Embedding)]
        node.store.flush()
        label = next(e.meta["label"] for e in embedded if e.meta["scene"] == 1)
        moments = node.query(*prompt_ensemble([label])[label], k=3, modalities=["audio"])
    wall_offset = time.time() - time.monotonic()  # the store keeps wall-clock times
    audio = [e for e in embedded if e.modality == "audio"]
    best = min(audio, key=lambda e: abs(e.t_end + wall_offset - moments[0].t_end))
    assert len(moments) == 3 and {m.modality for m in moments} == {"audio"}
    assert best.meta["label"] == label and best.meta["event"]  # the best match is a moment of that sound
    assert _stored_rows(store) == len(embedded)
    with pytest.raises(ConfigError, match="keeps no memory to query: give it a store"):
        Node(node_config(sensors=_sim(1.0)), backend=backend).query("a dog")


@pytest.mark.slow
def test_a_killed_node_keeps_what_it_stored_and_a_restarted_one_adds_to_it(tmp_path):
    store = tmp_path / "memory.db"
    command = [sys.executable, "-m", "edgebind.cli.main", "run", "--sensors", "sim_audio", "--store", str(store),
               "--no-live"]
    node = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _stored_rows(store) < 6:  # about 4.5 s of sound: windows every 0.5 s after the first 2 s
        assert time.monotonic() < deadline and node.poll() is None, node.communicate()
        time.sleep(0.5)
    node.kill()
    node.wait(10)
    before = _stored_rows(store)
    assert main(["run", "--sensors", "sim_audio", "--set", "sim_audio.speed=0", "--set", "sim_audio.duration_s=4",
                 "--store", str(store), "--no-live"]) == 0
    assert _stored_rows(store) == before + 5 + 5  # windows ending at 2, 2.5, .. 4 s; 5 onset windows from 3 s
    assert main(["query", "a dog", "--store", str(store), "--k", "50", "--json"]) == 0


def _stored_rows(path) -> int:
    from edgebind.errors import StoreError
    from edgebind.runtime.store import StoreReader

    try:
        reader = StoreReader(path)
    except StoreError:  # not there yet, or the node is still creating its tables
        return 0
    try:
        return reader.stats()["rows"]
    finally:
        reader.close()


def test_a_sensor_that_fails_is_restarted_while_the_others_keep_running(tmp_path, backend):
    from serial_pty import FakeSerialDevice

    imu = FakeSerialDevice(tmp_path / "ttyIMU")
    sensors = [{"type": "imu", "name": "imu", "port": str(imu.path), "reconnect": False},
               *_sim(None, speed=4, modalities=("audio",))]
    config = node_config(sensors=sensors, detect=["a dog"])
    config.restart_interval_s = 0.2

    def feed(seconds: float) -> None:
        for i in range(int(seconds * 200)):
            imu.write(f"{i / 200:.3f},0,0,9.81,0,0,0\n".encode())

    def count(modality: str) -> int:
        return sum(s["embedded"] for k, s in node.stats()["streams"].items() if k.endswith(modality))

    def wait(condition, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, node.stats()
            node.read(0.05)

    with Node(config, backend=backend) as node:
        feed(2.5)
        wait(lambda: count("imu") >= 2)
        imu.unplug()  # with reconnect: false the driver fails; the node reports and restarts it
        wait(lambda: "imu" in node.stats()["source_failures"])
        audio_then = count("audio")
        wait(lambda: count("audio") > audio_then + 2)  # the other sensor kept running
        imu.plug()
        time.sleep(0.5)  # the restarted source opens the new pty (opening flushes pending input)
        imu_then = count("imu")
        feed(2.5)
        wait(lambda: count("imu") > imu_then)
    assert "stopped sending" in node.stats()["source_failures"]["imu"][0]
    imu.close()


def test_sigterm_stops_the_node_cleanly_and_flushes_everything(tmp_path):
    out, store = tmp_path / "events.jsonl", tmp_path / "memory.db"
    node = subprocess.Popen([sys.executable, "-m", "edgebind.cli.main", "run", "--sensors", "sim_audio", "--no-live",
                             "--out", str(out), "--store", str(store)], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out.exists() and '"start"' in out.read_text()):  # the first event opened
        assert time.monotonic() < deadline and node.poll() is None
        time.sleep(0.2)
    node.send_signal(signal.SIGTERM)
    stdout, _ = node.communicate(timeout=30)
    assert node.returncode == 0 and "sim_audio/audio" in stdout
    kinds = [json.loads(line)["kind"] for line in out.read_text().splitlines()]
    assert kinds.count("start") == kinds.count("end") >= 1  # open events were closed and written
    embedded = int(stdout.split("embedded=")[1].split()[0])
    assert _stored_rows(store) == embedded  # the store holds every embedding


def test_events_change_while_the_node_runs(backend):
    config = node_config(sensors=_sim(None, speed=8, modalities=("audio",)), detect=["nothing we know"])
    with Node(config, backend=backend) as node:
        node.set_events(node_config(sensors=[{"type": "sim"}]).events)  # the sim world's classes
        deadline, started = time.monotonic() + 20, set()
        while not started and time.monotonic() < deadline:
            item = node.read(0.1)
            if isinstance(item, Detection) and item.kind == "start":
                started.add(item.event)
        assert started <= {e.name for e in node.config.events} and started
        with pytest.raises(ConfigError, match=r"events\[0\]: missing required key\(s\) \['name'\]"):
            node.set_events([{"prompts": ["a dog"]}])
