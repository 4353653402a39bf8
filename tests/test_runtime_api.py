"""The network API over a real uvicorn server on 127.0.0.1 and real nodes on sim sensors: endpoints
and their OpenAPI document, queries ranked like the node's own, snapshots, the WebSocket stream, a
slow client that loses (and is told of) its oldest messages without stalling the node, tokens, and
garbage that gets a 4xx and never disturbs the node. Only loopback addresses are ever connected to."""
import http.client
import io
import json
import socket
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
from websockets.exceptions import InvalidStatus  # noqa: E402  (uvicorn's WebSocket library)
from websockets.sync.client import connect  # noqa: E402

from edgebind.cli.main import main  # noqa: E402
from edgebind.errors import ConfigError  # noqa: E402
from edgebind.runtime import Detection, Embedding, Node  # noqa: E402
from edgebind.runtime.api import ApiServer  # noqa: E402
from edgebind.runtime.api_access import parse_address  # noqa: E402
from edgebind.runtime.backend import TorchBackend, TorchConfig  # noqa: E402
from edgebind.runtime.profile import node_config  # noqa: E402
from api_pump import publishing  # noqa: E402

TOKEN = "a-test-token-of-32-characters-xx"


def _sim(seconds, speed):
    return [{"type": "sim", "modality": m, "name": f"sim_{m}", "speed": speed, "duration_s": seconds}
            for m in ("audio", "imu")]


def request(url, path, body=None, headers=None, method=None):
    """(status, parsed JSON or raw bytes) of one HTTP request."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, raw, kind = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, raw, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    return status, json.loads(raw) if kind.startswith("application/json") else raw


def wait_for(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def backend():
    return TorchBackend(TorchConfig())


@pytest.fixture(scope="module")
def recorded(backend, tmp_path_factory):
    """A node that embedded 24 s of sim audio and IMU into a store (as fast as it could), still open."""
    store = tmp_path_factory.mktemp("api") / "memory.db"
    node = Node(node_config(sensors=_sim(24.0, speed=0), store={"path": str(store)}), backend=backend)
    with node, ApiServer(node, "127.0.0.1", 0) as api:
        items = []
        for item in node:
            api.publish(item)
            items.append(item)
        node.store.flush()
        yield node, api, items


@pytest.fixture(scope="module")
def live(backend):
    """A node on live sim sensors (twice real time, no store), its outputs published by a pump thread."""
    node = Node(node_config(sensors=_sim(None, speed=2)), backend=backend)
    with node, ApiServer(node, "127.0.0.1", 0) as api, publishing(node, api):
        yield node, api


def test_endpoints_answer_json_and_the_openapi_document_lists_them(recorded):
    node, api, items = recorded
    assert request(api.url, "/health") == (200, {"status": "finished", "uptime_s": pytest.approx(0, abs=600)})
    status, stats = request(api.url, "/stats")
    assert status == 200 and set(stats["streams"]) == {"sim_audio/audio", "sim_imu/imu"}
    # 45 regular windows over 24 s, and 5 onset windows for each of the sounds starting at 3, 11 and 19 s
    assert stats["streams"]["sim_audio/audio"]["embedded"] == 45 + 3 * 5 and stats["window_drops"] == 0
    assert stats["store"]["rows"] == sum(isinstance(i, Embedding) for i in items)
    assert stats["api"]["published"] == len(items) and stats["sources"]["sim_audio"]["state"]
    status, openapi = request(api.url, "/openapi.json")
    assert status == 200 and openapi["info"]["title"] == "edgebind node"
    assert {"/health", "/stats", "/events", "/query", "/snapshot/{ref}"} <= set(openapi["paths"])
    assert "QueryRequest" in openapi["components"]["schemas"] and "/ws" in openapi["info"]["description"]

    status, events = request(api.url, "/events?last=1h&limit=3")
    starts = [d for d in items if isinstance(d, Detection) and d.kind == "start"]
    assert status == 200 and events["from"] == "store" and len(events["events"]) == min(3, len(starts)) > 0
    assert set(events["events"][0]) == {"event", "source", "modality", "t_open", "t_close", "score", "peak", "snapshot"}
    assert abs(events["events"][0]["t_open"] - time.time()) < 600  # wall-clock seconds


def test_a_query_through_the_api_ranks_the_moments_of_that_sound(recorded, capsys):
    from edgebind.synthetic import prompt_ensemble

    node, api, items = recorded
    label = next(e.meta["label"] for e in items if isinstance(e, Embedding) and e.meta["scene"] == 1)
    terms = prompt_ensemble([label])[label]
    status, answer = request(api.url, "/query", {"terms": terms, "k": 3, "last": "1h", "modalities": ["audio"]})
    expected = node.query(*terms, k=3, last_s=3600, modalities=["audio"])
    assert status == 200 and [m["rank"] for m in answer["moments"]] == [1, 2, 3]
    assert [(m["t_start"], m["score"]) for m in answer["moments"]] == \
        [(round(m.t_start, 3), round(m.score, 4)) for m in expected]
    wall_offset = time.time() - time.monotonic()
    audio = [e for e in items if isinstance(e, Embedding) and e.modality == "audio"]
    best = min(audio, key=lambda e: abs(e.t_end + wall_offset - answer["moments"][0]["t_end"]))
    assert best.meta["label"] == label and best.meta["event"]  # the best match is a moment of that sound

    assert main(["query", *terms, "--url", api.url, "--k", "3", "--modalities", "audio", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == answer["moments"]  # `edgebind query --url` asks the API
    assert main(["query", "--events", "--url", api.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == request(api.url, "/events")[1]["events"]
    assert main(["query", "audio:bark.wav", "--url", api.url]) == 2
    assert "name files on the node's machine; over the API a term is a text" in capsys.readouterr().err


def test_snapshots_come_as_json_or_npz(recorded):
    node, api, _ = recorded
    ref = next(e["snapshot"] for e in request(api.url, "/events")[1]["events"] if e["snapshot"])
    arrays = node.store.snapshot(ref)
    status, answer = request(api.url, f"/snapshot/{ref}")
    assert status == 200 and set(answer["arrays"]) == set(arrays)
    for name, array in arrays.items():
        served = answer["arrays"][name]
        assert served["shape"] == list(array.shape) and served["dtype"] == str(array.dtype)
        np.testing.assert_array_equal(np.array(served["data"], dtype=array.dtype).reshape(array.shape), array)
    status, raw = request(api.url, f"/snapshot/{ref}?format=npz")
    with np.load(io.BytesIO(raw)) as npz:
        assert status == 200 and all(np.array_equal(npz[n], a) for n, a in arrays.items())
    status, answer = request(api.url, "/snapshot/999999")
    assert status == 404 and "no snapshot 999999" in answer["error"]


def test_the_websocket_streams_events_and_embeddings_as_asked(live):
    node, api = live
    url = api.url.replace("http", "ws") + "/ws"
    with connect(url) as events_only, connect(url + "?embeddings=meta") as meta, \
            connect(url + "?embeddings=vectors") as vectors:
        first = json.loads(vectors.recv(timeout=20))
        assert first["type"] == "embedding" and len(first["vector"]) == 64
        assert json.loads(meta.recv(timeout=20)).keys() == first.keys() - {"vector"}
        event = json.loads(events_only.recv(timeout=30))  # the sim's first scene event, a few s in
        assert event["type"] == "event" and event["kind"] in ("start", "end") and event["event"]
    assert request(api.url, "/events?last=5m")[1]["from"] == "memory"
    status, answer = request(api.url, "/query", {"terms": ["a dog"]})
    assert status == 409 and "keeps no memory to query: run it with --store" in answer["error"]
    with pytest.raises(InvalidStatus, match="403"):  # unknown ?embeddings= value: refused before opening
        with connect(url + "?embeddings=all"):
            pass


def _flood(n):
    vector = np.random.default_rng(0).standard_normal(1024).astype(np.float32)
    return [Embedding("flood", "audio", float(i), float(i) + 2, vector) for i in range(n)]


def _read_all(ws, until_s=3.0):
    """(flood embeddings received, dropped total told) until nothing came for `until_s`."""
    received, dropped = 0, 0
    with pytest.raises(TimeoutError):
        while True:
            message = json.loads(ws.recv(timeout=until_s))
            if message["type"] == "dropped":
                assert message["total"] == dropped + message["count"]
                dropped = message["total"]
            received += message.get("source") == "flood"
    return received, dropped


def test_a_slow_websocket_client_loses_its_oldest_messages_and_never_stalls_the_node(live):
    node, _ = live
    with ApiServer(node, "127.0.0.1", 0, client_queue=16) as api:
        url = api.url.replace("http", "ws") + "/ws?embeddings=vectors"
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client reading nothing, small buffers
        sock.connect(("127.0.0.1", api.port))
        with connect(url, sock=sock) as slow:
            wait_for(lambda: api.stats()["clients"] == 1)
            before = node.stats()
            items, slowest, depths = _flood(3000), 0.0, []
            for item in items:  # ~30 MB of JSON for a client that reads nothing
                started = time.perf_counter()
                api.publish(item)
                slowest = max(slowest, time.perf_counter() - started)
                depths.append(max(api.stats()["client_queues"]))
            time.sleep(0.5)
            after = node.stats()
            assert slowest < 0.1 and max(depths) <= 16  # publishing never waited; the client's queue is bounded
            assert after["window_drops"] == 0 and after["queue"] <= 4  # the node kept up, its queue did not grow
            assert after["streams"]["sim_audio/audio"]["windows"] > before["streams"]["sim_audio/audio"]["windows"]
            received, dropped = _read_all(slow)
        assert dropped > 2000 and received + dropped == len(items)  # what it lost, it was told of
        assert api.stats()["client_drops"] == dropped


def test_beyond_loopback_a_token_is_required(live):
    node, _ = live
    with pytest.raises(ConfigError, match="serving the API on 0.0.0.0 .* requires a token: pass --token"):
        ApiServer(node, "0.0.0.0", 0)
    with pytest.raises(ConfigError, match="token must have at least 16 characters"):
        ApiServer(node, "0.0.0.0", 0, token="short")
    with ApiServer(node, "0.0.0.0", 0, token=TOKEN) as api:
        url = f"http://127.0.0.1:{api.port}"  # bound to every address; tested over loopback only
        assert request(url, "/health")[0] == 200  # for supervisors: tells nothing but liveness
        status, answer = request(url, "/stats")
        assert status == 401 and "missing or wrong token" in answer["error"]
        assert request(url, "/stats", headers={"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
        assert request(url, "/openapi.json")[0] == 401
        assert request(url, "/stats", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        ws = f"ws://127.0.0.1:{api.port}/ws"
        with pytest.raises(InvalidStatus, match="403"):
            with connect(ws + "?token=wrong"):
                pass
        with connect(ws + f"?token={TOKEN}&embeddings=meta") as client:
            wait_for(lambda: api.stats()["clients"] == 1)
            api.publish(_flood(1)[0])
            assert json.loads(client.recv(timeout=10))["source"] == "flood"


def test_garbage_gets_a_4xx_and_never_disturbs_the_node(live):
    node, api = live
    before = node.stats()
    started = time.monotonic()
    url = api.url
    for _ in range(3):
        assert request(url, "/query", b'{"terms": ["a dog"')[0] == 422  # malformed JSON
        assert request(url, "/query", b"\xff\xfe\x00garbage")[0] == 422
        assert request(url, "/query", {"terms": []})[0] == 422
        assert request(url, "/query", {"terms": ["a"], "k": 10**9})[0] == 422
        assert request(url, "/query", {"terms": ["a"], "extra": 1})[0] == 422
        status, answer = request(url, "/query", b"[" + b"1," * 40000 + b"1]")
        assert status == 413 and answer == {"error": "request body over 65536 bytes"}
        status, answer = request(url, "/events?last=soon")
        assert status == 400 and "give seconds or a number with s, m, h or d" in answer["error"]
        status, answer = request(url, "/no/such/thing")
        assert status == 404 and answer["error"].startswith("no endpoint GET /no/such/thing")
        assert request(url, "/snapshot/abc")[0] == 422
        assert request(url, "/stats", b"{}", method="DELETE")[0] == 405
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)  # a body streamed past the cap
        conn.putrequest("POST", "/query")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for _ in range(20):
            conn.send(b"1000\r\n" + b" " * 4096 + b"\r\n")
        conn.send(b"0\r\n\r\n")
        assert conn.getresponse().status == 413
        conn.close()
        with socket.create_connection(("127.0.0.1", api.port), timeout=10) as raw:  # not HTTP at all
            raw.sendall(b"\x16\x03\x01 not http \r\n\r\n" * 10)
            assert raw.recv(100).startswith(b"HTTP/1.1 400")
    wait_for(lambda: time.monotonic() - started > 2)
    after = node.stats()
    assert request(url, "/health")[1]["status"] == "running"
    assert after["window_drops"] == 0 and after["queue"] <= 4
    windows = after["streams"]["sim_audio/audio"]["windows"] - before["streams"]["sim_audio/audio"]["windows"]
    assert windows >= 3 * (time.monotonic() - started) - 3  # 4 windows/s at twice real time: it kept producing


def test_serve_addresses_are_parsed_and_checked(capsys):
    assert parse_address("0.0.0.0:8765") == ("0.0.0.0", 8765)
    assert parse_address("[::1]:9000") == ("::1", 9000) and parse_address(":80") == ("127.0.0.1", 80)
    with pytest.raises(ConfigError, match="give HOST:PORT with a port in 0..65535"):
        parse_address("localhost:http")
    assert main(["run", "--serve", "0.0.0.0:8765", "--no-live"]) == 2
    assert "requires a token: pass --token" in capsys.readouterr().err
    with ApiServer(None, "127.0.0.1", 0) as taken:  # serves nothing yet: the port is only taken
        with pytest.raises(ConfigError, match=f"cannot serve the API on 127.0.0.1:{taken.port}: Address already"):
            ApiServer(None, "127.0.0.1", taken.port).start()


def test_edgebind_run_serves_the_api_while_it_runs(tmp_path):
    import subprocess
    import sys

    store = tmp_path / "memory.db"
    command = [sys.executable, "-m", "edgebind.cli.main", "run", "--sensors", "sim_audio", "--set", "sim_audio.speed=2",
               "--store", str(store), "--serve", "127.0.0.1:0", "--no-live", "--duration", "4"]
    node = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = node.stdout.readline()
        assert line.startswith("serving the API on http://127.0.0.1:"), line + node.stderr.read()
        url = line.split()[4]
        wait_for(lambda: request(url, "/stats")[1]["store"]["rows"] > 0)
        status, answer = request(url, "/query", {"terms": ["a dog barking"], "k": 2})
        assert status == 200 and len(answer["moments"]) == 2
        with connect(url.replace("http", "ws") + "/ws?embeddings=meta") as ws:
            assert json.loads(ws.recv(timeout=10))["source"] == "sim_audio"  # _serve publishes every output
        assert node.wait(30) == 0
    finally:
        node.kill()
