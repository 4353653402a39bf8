"""Every launch profile in launch/ is a valid node config, and the systemd unit runs the node so
that SIGTERM stops it cleanly."""
import configparser
from pathlib import Path

import pytest

from edgebind.errors import ConfigError
from edgebind.runtime.profile import load_profile, node_config

LAUNCH = Path(__file__).resolve().parent.parent / "launch"
PROFILES = sorted(LAUNCH.glob("*.yaml"))


@pytest.mark.parametrize("path", PROFILES, ids=[p.name for p in PROFILES])
def test_profiles_are_valid_node_configs(path):
    config = node_config(load_profile(path), where=path.name)
    assert config.sensors and config.events and config.store is not None
    assert {s.type for s in config.sensors} <= {"mic", "depth", "thermal", "imu"}


def test_a_typo_in_a_profile_names_the_file_and_key(tmp_path):
    profile = load_profile(LAUNCH / "cpu.yaml")
    profile["detector"]["treshold"] = 0.6
    with pytest.raises(ConfigError, match=r"cpu.yaml.detector: unknown key\(s\) \['treshold'\]"):
        node_config(profile, where="cpu.yaml")
    profile = load_profile(LAUNCH / "cpu.yaml")
    profile["sensors"][2]["protocol"] = "nmea"
    with pytest.raises(ConfigError, match="imu protocol must be one of 'csv', 'witmotion', got 'nmea'"):
        node_config(profile, where="cpu.yaml")


def test_the_systemd_unit_runs_a_profile_and_stops_with_sigterm():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(LAUNCH / "edgebind.service")
    service = unit["Service"]
    assert "edgebind run --profile" in service["ExecStart"] and "--no-live" in service["ExecStart"]
    assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
