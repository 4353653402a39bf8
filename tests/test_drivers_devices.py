"""`edgebind devices`: every kind of sensor is listed or says why it cannot be, never a crash."""
import sys

from edgebind.cli.main import main


def test_devices_lists_every_kind(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    for kind in ("serial ports:", "audio inputs:", "RealSense cameras:", "video devices (V4L2):"):
        assert kind in out
    for line in out.splitlines():
        if "imu.port=" in line:  # a serial port, with the setting that selects it
            assert "--set imu.port=/dev/" in line


def test_a_missing_library_is_named_with_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyrealsense2", None)  # import fails as when not installed
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "RealSense cameras:\n  (listing RealSense cameras needs the 'pyrealsense2' package: " \
           "pip install 'edgebind[sensors]')" in out
