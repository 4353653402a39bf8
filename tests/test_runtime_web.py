"""The web view in a real headless Chromium (Debian's `chromium`, driven by Playwright) against a real node
in real time: the four sim sensors plus an IMU on a pseudo-terminal, a store, the API with a token on
127.0.0.1. The page loads, its tiles update, events reach the timeline and open their snapshots, a query
returns moments, an event defined on the page fires, an unplugged IMU shows on its tile, and the page's
buffers stay bounded. Screenshots go to the test's tmp dir (EDGEBIND_WEB_SCREENSHOT=PATH also copies the
last one there, e.g. docs/web-view.png). Only 127.0.0.1 is ever connected to."""
import http.client
import io
import json
import math
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
import wave

import numpy as np
import pytest
import soundfile
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from edgebind.errors import InputError  # noqa: E402
from edgebind.runtime import Node  # noqa: E402
from edgebind.runtime.api import ApiServer  # noqa: E402
from edgebind.runtime.backend import TorchBackend, TorchConfig  # noqa: E402
from edgebind.runtime.profile import SIM_CALIBRATION, node_config, sim_events  # noqa: E402
from edgebind.runtime.node_config import WindowConfig  # noqa: E402
from edgebind.runtime.web import Previews, false_colour, render_media, snapshot_media, spectrum  # noqa: E402
from edgebind.runtime.windows import Window  # noqa: E402
from edgebind.synthetic import prompt_ensemble  # noqa: E402
from api_pump import publishing  # noqa: E402
from serial_pty import FakeSerialDevice  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

TOKEN = "a-web-view-token-of-32-chars-xxx"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
WAIT_MS = 30_000


def _imu_writer(device, stop):
    """csv IMU lines at 200 Hz, ten every 50 ms, until stopped or unplugged."""
    n = 0
    while not stop.wait(0.05) and device.master is not None:
        lines = "".join(f"{(n + i) / 200:.3f},0.1,{math.sin((n + i) / 20):.3f},9.81,0.01,0.02,"
                        f"{math.cos((n + i) / 30):.3f}\n" for i in range(10))
        n += 10
        try:
            device.write(lines.encode())
        except (OSError, TypeError):
            return


@pytest.fixture(scope="module")
def node_api(tmp_path_factory):
    """A node on the sim sensors (real time) and a pty IMU, with a store, served with a token; a pump
    thread publishes its outputs."""
    folder = tmp_path_factory.mktemp("web")
    device = FakeSerialDevice(folder / "imu0")
    sensors = [{"type": "sim", "modality": m, "name": f"sim_{m}"} for m in ("audio", "depth", "thermal", "imu")]
    sensors.append({"type": "imu", "name": "imu_pty", "port": str(device.path), "reconnect_interval_s": 0.2})
    config = node_config({"events": sim_events()}, sensors=sensors, calibration=str(SIM_CALIBRATION),
                         store={"path": str(folder / "memory.db")})
    stop = threading.Event()
    writer = threading.Thread(target=_imu_writer, args=(device, stop), daemon=True)
    writer.start()
    node = Node(config, backend=TorchBackend(TorchConfig()))
    with node, ApiServer(node, "127.0.0.1", 0, TOKEN) as api, publishing(node, api):
        yield node, api, device
    stop.set()
    writer.join()
    device.close()


@pytest.fixture(scope="module")
def page(node_api, tmp_path_factory):
    """The web view open in headless Chromium (the token handed over in the URL's fragment); fails the
    module's last test on any script error."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("the web view's browser tests need Debian's chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the web view's browser tests need playwright "
                                                                 "(the dev extra)")
    node, api, _ = node_api
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.shots = tmp_path_factory.mktemp("screenshots")
        page.goto(f"{api.url}/#token={TOKEN}")
        yield page
        browser.close()


def shot(page, name):
    path = page.shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def latest_audio(node):
    """(samples, rate) of the node's newest regular audio window, waiting for the first (2 s of sound)."""
    deadline = time.monotonic() + 10
    while "sim_audio/audio" not in node.latest_windows() and time.monotonic() < deadline:
        time.sleep(0.1)
    return node.latest_windows()["sim_audio/audio"].data


def post_file(url, data, token=TOKEN, length=None):
    """(status, JSON answer) of POST /query/file?... with `data` as the body (or only a declared `length`)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/" + url.split("/", 3)[3])
    conn.putheader("Content-Length", str(len(data) if length is None else length))
    conn.putheader("Content-Type", "application/octet-stream")
    if token:
        conn.putheader("Authorization", f"Bearer {token}")
    conn.endheaders()
    if length is None:
        conn.send(data)
    response = conn.getresponse()
    answer = response.status, json.loads(response.read())
    conn.close()
    return answer


def get(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read()


def test_the_page_ships_in_the_package_and_only_its_data_needs_the_token(node_api):
    _, api, _ = node_api
    status, kind, body = get(api.url + "/")
    assert status == 200 and kind.startswith("text/html") and b'src="/web/app.js"' in body
    assert b"http" not in body.replace(b'http-equiv', b'')  # nothing fetched from elsewhere
    for name, kind_wanted in (("app.js", "text/javascript"), ("app.css", "text/css")):
        status, kind, body = get(f"{api.url}/web/{name}")
        assert status == 200 and kind.startswith(kind_wanted) and b"https://" not in body
    assert get(api.url + "/web/secrets.txt")[0] == 404
    assert get(api.url + "/stats")[0] == 401 and get(api.url + "/config/events")[0] == 401
    status, _, body = get(api.url + "/config/events", TOKEN)
    config = json.loads(body)
    assert status == 200 and [e["name"] for e in config["events"]] == [e["name"] for e in sim_events()]
    assert set(config["events"][0]["thresholds"]) >= {"audio", "depth", "thermal", "imu"}


def test_the_tiles_update_and_show_each_source(node_api, page):
    node, api, _ = node_api
    for source, modality in (("sim_audio", "audio"), ("sim_depth", "depth"), ("sim_thermal", "thermal"),
                             ("sim_imu", "imu"), ("imu_pty", "imu")):
        page.wait_for_function(f"""() => Number(document.querySelector('.tile[data-source="{source}"] '
                                   + '.view[data-modality="{modality}"]')?.dataset.updates) >= 3""", timeout=WAIT_MS)
        tile = page.locator(f'.tile[data-source="{source}"]')
        assert tile.locator(".state").inner_text() == "connected"
    assert page.locator('.tile[data-source="sim_depth"] img').get_attribute("src").startswith("data:image/png;base64,")
    assert "mm" in page.locator('.tile[data-source="sim_depth"] .scale').inner_text()
    assert "kelvin" in page.locator('.tile[data-source="sim_thermal"] .scale').inner_text()
    assert "dBFS" in page.locator('.tile[data-source="sim_audio"] .view.audio').inner_text()
    page.wait_for_function("() => /chunks\\/s/.test(document.querySelector('.tile[data-source=\"sim_audio\"] .counters').textContent)"
                           " && !document.querySelector('.tile[data-source=\"sim_audio\"] .counters').textContent.startsWith('-')")
    health = page.locator("#health").inner_text()
    assert "edgebind-tiny-synthetic" in health and "% of one core" in health
    assert re.search(r"memory \(RSS\)\n[\d.]+ [MG]B", health), health  # a big test process passes 1 GB
    assert page.locator('#stream-stats tr[data-stream="sim_audio/audio"]').count() == 1
    stats = api.stats()
    assert stats["previews"] > 0 and stats["clients"] == 1


def test_events_reach_the_timeline_with_their_scores_and_open_their_snapshots(page):
    audio_event = '.event-row[data-kind=start][data-stream="sim_audio/audio"][data-snapshot]'
    page.wait_for_selector(audio_event, timeout=WAIT_MS)  # by then every stream has a window to snapshot
    row = page.locator(audio_event).first
    assert "threshold" in row.locator(".score").inner_text()
    page.wait_for_function("() => document.querySelectorAll('#legend li').length >= 4")
    assert " / " in page.locator('#legend li[data-stream="sim_audio/audio"]').inner_text()  # score / threshold
    row.click()
    try:
        page.wait_for_selector("#snapshot-body figure[data-kind=wav] audio")
        assert page.locator("#snapshot-body figure[data-kind=wav] audio").get_attribute("src").startswith("blob:")
        duration = page.wait_for_function("""() => { const a = document.querySelector('#snapshot-body audio');
                                             return a.readyState >= 1 && a.duration; }""").json_value()
        assert duration == pytest.approx(2.0, abs=0.05)  # the 2 s clip, decoded by the browser
        assert page.locator("#snapshot-body figure[data-kind=png] img").count() >= 2  # depth and thermal
        assert page.locator("#snapshot-body figure[data-kind=traces] canvas").count() >= 1
        assert page.evaluate("() => [...document.querySelectorAll('#snapshot-body img')].every(i => i.naturalWidth)")
        shot(page, "snapshot")
    finally:
        page.locator("#snapshot form button").click()  # the next tests need the page without the dialog
    page.wait_for_function("() => !snapshotUrls.length && !document.querySelector('#snapshot-body').children.length")  # the dialog's blobs are released


def test_a_query_returns_moments(page):
    page.fill("#query-text", "a dog barking")
    page.click("#query-form button")
    page.wait_for_selector("#moments li.moment", timeout=WAIT_MS)
    assert page.locator("#moments li.moment").count() >= 5
    assert page.locator("#moments li.moment").first.inner_text().startswith("#1")
    assert "moments like" in page.locator("#query-status").inner_text()


def test_an_event_defined_on_the_page_fires_and_can_be_removed(node_api, page):
    node, _, _ = node_api
    # The sim's background sounds like a train to the shipped model: an uncalibrated twin of the
    # "train" event shares its score (about half) and so passes 0.3 at once.
    page.fill("#event-name", "page-train")
    page.fill("#event-prompts", " | ".join(prompt_ensemble(["train"])["train"][:4]))
    page.fill("#event-threshold", "0.3")
    page.click("#event-form button")
    page.wait_for_selector('#event-config tr[data-event="page-train"]')
    assert [e.threshold for e in node.config.events if e.name == "page-train"] == [0.3]
    page.wait_for_selector('.event-row[data-event="page-train"][data-kind=start]', timeout=WAIT_MS)
    page.locator('#event-config tr[data-event="page-train"] button.remove').click()
    page.wait_for_selector('#event-config tr[data-event="page-train"]', state="detached")
    assert "page-train" not in [e.name for e in node.config.events] and len(node.config.events) == 8


def test_an_unplugged_imu_shows_on_its_tile(node_api, page):
    _, _, device = node_api
    device.unplug()
    tile = page.locator('.tile[data-source="imu_pty"]')
    page.wait_for_function("""() => document.querySelector('.tile[data-source="imu_pty"] .state').textContent
                              === 'reconnecting'""", timeout=WAIT_MS)
    assert tile.locator(".gap").is_visible() and "gaps 1" in tile.locator(".counters").inner_text()
    assert page.locator('.tile[data-source="sim_audio"] .state').inner_text() == "connected"
    path = shot(page, "web-view")
    if os.environ.get("EDGEBIND_WEB_SCREENSHOT"):
        shutil.copyfile(path, os.environ["EDGEBIND_WEB_SCREENSHOT"])


def test_the_page_buffers_stay_bounded(page):
    """An hour's worth of messages, handed to the page's own handlers, leaves every buffer at its cap."""
    sizes = page.evaluate("""() => {
        const now = Date.now() / 1000;
        for (let i = 0; i < 7200; i++) {
            onEmbedding({source: "test", modality: "audio", wall_time: now - 3600 + i / 2,
                         scores: {dog: 0.1}});
            onTile({source: "sim_imu", modality: "imu", traces: [[1, 2], [1, 2], [1, 2], [1, 2], [1, 2], [1, 2]]});
        }
        for (let i = 0; i < 500; i++) addEvent({kind: "end", event: "dog", source: "x", modality: "audio",
                                                wall_time: now, score: 0.5, snapshot: null});
        const imu = state.tiles.get("sim_imu").modalities.get("imu");
        return {events: state.events.length, rows: document.querySelectorAll("#events li").length,
                seconds: state.scores.get("test/audio").length, imu: Math.max(...imu.channels.map(c => c.length))};
    }""")
    assert sizes == {"events": 100, "rows": 100, "seconds": 121, "imu": 400}
    assert page.errors == []


def test_an_uploaded_file_queries_the_store_and_odd_uploads_are_refused(node_api, tmp_path):
    node, api, _ = node_api
    samples, rate = latest_audio(node)
    clip = io.BytesIO()
    soundfile.write(clip, samples, int(rate), format="WAV")
    deadline = time.monotonic() + 5  # the store commits its queue every 0.5 s: poll until the clip is in
    while True:
        status, answer = post_file(f"{api.url}/query/file?modality=audio&filename=clip.wav&k=3", clip.getvalue())
        assert status == 200 and len(answer["moments"]) == 3
        if answer["moments"][0]["score"] > 0.9 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert answer["moments"][0]["modality"] == "audio" and answer["moments"][0]["score"] > 0.9  # the clip itself
    assert post_file(f"{api.url}/query/file?modality=audio&filename=clip.wav", b"x", token=None)[0] == 401
    status, answer = post_file(f"{api.url}/query/file?modality=audio&filename=clip.exe", b"x")
    assert status == 400 and "a audio file must be one of .wav, .flac, .ogg" in answer["error"]
    status, answer = post_file(f"{api.url}/query/file?modality=audio&filename=noise.wav", b"RIFF not a wav")
    assert status == 400 and "cannot decode 'noise.wav'" in answer["error"] and "edgebind-upload" not in answer["error"]
    status, answer = post_file(f"{api.url}/query/file?modality=audio&filename=big.wav", b"", length=api.max_upload + 1)
    assert status == 413 and answer["error"] == f"request body over {api.max_upload} bytes"
    status, answer = post_file(f"{api.url}/query/file?modality=smell&filename=a.wav", b"x")
    assert status == 422


def test_a_file_chosen_on_the_page_returns_moments(node_api, page, tmp_path):
    node, _, _ = node_api
    samples, rate = latest_audio(node)
    soundfile.write(tmp_path / "heard.wav", samples, int(rate))
    page.set_input_files("#query-file", str(tmp_path / "heard.wav"))
    page.wait_for_function("() => document.querySelector('#query-status').textContent.includes('heard.wav')",
                           timeout=WAIT_MS)
    assert "moments like heard.wav (audio)" in page.locator("#query-status").inner_text()
    assert page.locator("#moments li.moment").first.get_attribute("data-modality") == "audio"


def test_spectrum_level_and_false_colour():
    rate, t = 16000, np.arange(8000) / 16000
    level, bins = spectrum(0.5 * np.sin(2 * np.pi * 1000 * t), rate)
    assert level == pytest.approx(-9.0, abs=0.1)  # a sine of amplitude 0.5: RMS 0.354
    assert len(bins) == 48 and abs((np.argmax(bins) + 0.5) * 8000 / 48 - 1000) <= 8000 / 96
    assert -30 < max(bins) < -10 and bins[20] == -100  # a 0.5 tone's band; far from it, the floor
    depth = np.full((480, 640), 1000, np.uint16)
    depth[:240] = 3000
    depth[0, 0] = 0  # no reading: drawn black, left out of the range
    png, low, high = false_colour(depth)
    image = np.asarray(Image.open(io.BytesIO(png)))
    assert (low, high) == (1000, 3000) and image.shape == (69, 92, 3)  # every 7th pixel: at most 96
    assert image[0, 0].tolist() == [0, 0, 0] and image[-1, -1].tolist() == [0, 0, 4] and image[1, 1].tolist() == [252, 255, 164]
    with pytest.raises(InputError, match="an image needs 2 dimensions"):
        false_colour(np.zeros(5))


def test_snapshots_become_wav_png_and_traces():
    clip = np.sin(np.arange(32000) / 5).astype(np.float32) * 0.5
    arrays = {"mic/audio.data.0": clip, "mic/audio.data.1": np.array(16000.0), "mic/audio.t_end": np.array(1.0),
              "cam/depth.data.depth": np.ones((48, 64), np.uint16), "imu0/imu.data.0": np.zeros((400, 6), np.float32),
              "imu0/imu.data.1": np.array(200.0)}
    assert [(m["stream"], m["kind"]) for m in snapshot_media(arrays)] == \
        [("cam/depth", "png"), ("imu0/imu", "traces"), ("mic/audio", "wav")]
    content, kind, _ = render_media(arrays, "mic/audio.data.0")
    with wave.open(io.BytesIO(content)) as wav:
        assert (kind, wav.getframerate(), wav.getsampwidth(), wav.getnframes()) == ("audio/wav", 16000, 2, 32000)
        assert np.allclose(np.frombuffer(wav.readframes(32000), "<i2") / 32767, clip, atol=1e-4)
    content, kind, headers = render_media(arrays, "imu0/imu.data.0")
    assert kind == "application/json" and len(content["traces"]) == 6 and content["rate_hz"] == 200
    content, kind, headers = render_media(arrays, "cam/depth.data.depth")
    assert kind == "image/png" and headers == {"X-Low": "1", "X-High": "1"}
    with pytest.raises(InputError, match="the snapshot has no audio, frame or IMU array named 'mic/audio.t_end'"):
        render_media(arrays, "mic/audio.t_end")


class _Busy:
    """A node whose every stream has a new window whenever asked (far more often than a real one)."""

    config = type("Config", (), {"windows": WindowConfig()})()

    def latest_windows(self):
        clip = (np.zeros(32000, np.float32), 16000.0)
        return {"mic/audio": Window("mic", "audio", 0.0, 2.0, clip), "cam/depth": Window("cam", "depth", 2.0, 2.0,
                                                                                      np.ones((8, 8), np.uint16))}


def test_previews_are_rate_limited_and_only_made_for_listeners():
    sent, listening = [], threading.Event()
    previews = Previews(_Busy(), sent.append, listening.is_set, interval_s=0.25).start()
    try:
        time.sleep(0.6)  # a span of time is what is measured here
        assert sent == []  # nobody listens: nothing is made
        listening.set()
        time.sleep(1.0)
    finally:
        previews.stop()
    streams = {"mic/audio": 0, "cam/depth": 0}
    for record in sent:
        streams[record["stream"]] += 1
    assert 2 <= streams["mic/audio"] <= 5 and 2 <= streams["cam/depth"] <= 5  # at most 4 per second, each
    assert len(json.dumps(sent[0])) < 2000 and sent[0]["level_db"] == -100.0
