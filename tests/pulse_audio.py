"""A private PulseAudio daemon for tests that need real audio: a null sink at 48 kHz that `paplay`
plays into and whose monitor PortAudio's "pulse" device captures (see ENVIRONMENT: no hardware)."""
import os
import shutil
import subprocess
import threading
import time

TOOLS = ("pulseaudio", "pactl", "paplay", "parec")
MISSING = any(shutil.which(t) is None for t in TOOLS)
SKIP_REASON = "real-audio tests need PulseAudio: apt-get install pulseaudio pulseaudio-utils"
SINK, RATE = "edge_null", 48000


def poll(condition, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.01)


class PulseDaemon:
    """A private PulseAudio on a unix socket in `root` with one mono null sink at 48 kHz."""

    def __init__(self, root) -> None:
        self.socket = root / "native"
        self.env = {**os.environ, "HOME": str(root), "XDG_RUNTIME_DIR": str(root), "PULSE_RUNTIME_PATH": str(root),
                    "PULSE_STATE_PATH": str(root), "PULSE_SERVER": f"unix:{self.socket}"}
        self.daemon = self.recorder = None

    def start(self) -> None:
        self.socket.unlink(missing_ok=True)  # a killed daemon leaves its socket behind
        self.daemon = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no", "--disable-shm=yes",
             f"--load=module-null-sink sink_name={SINK} rate={RATE} channels=1",
             f"--load=module-native-protocol-unix auth-anonymous=1 socket={self.socket}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        poll(self.socket.exists, "PulseAudio socket")
        # The null sink renders 2 s blocks until a client asks for low latency, stalling the first
        # recording stream by up to 2 s: keep a low-latency recorder running, and wait until its
        # data trickles in (not one burst) before any test opens a stream.
        self.recorder = subprocess.Popen(
            ["parec", f"--device={SINK}.monitor", "--latency-msec=10", "--rate=8000", "--channels=1"],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        arrivals: list[float] = []
        threading.Thread(target=self._drain, args=(self.recorder.stdout, arrivals), daemon=True).start()
        poll(lambda: len(arrivals) > 1 and arrivals[-1] - arrivals[0] > 0.1, "audio from the null sink")

    @staticmethod
    def _drain(pipe, arrivals: list[float]) -> None:
        while os.read(pipe.fileno(), 65536):
            arrivals.append(time.monotonic())

    def kill(self) -> None:
        for process in (self.recorder, self.daemon):
            process.kill()
            process.wait()

    def pactl(self, *args: str) -> None:
        subprocess.run(["pactl", *args], env=self.env, check=True, capture_output=True, timeout=5)

    def play(self, path) -> subprocess.Popen:
        return subprocess.Popen(["paplay", f"--device={SINK}", str(path)], env=self.env)
