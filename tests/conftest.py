"""Shared fixtures: a tiny model (built once) and a small synthetic world on disk."""
from __future__ import annotations

import os

import pytest
import torch

SLOW_FIXTURES = {"mini_run"}  # seconds to build: every test using one is marked slow


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the users of a slow fixture `slow`, so `-m 'not slow'` does not build it."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_model():
    import edgebind

    torch.manual_seed(0)
    return edgebind.create_model("edgebind-tiny")


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """A 12-sample synthetic world on disk, read back through the manifest."""
    from edgebind.manifest import read_manifest
    from edgebind.synthetic import WorldConfig, make_world

    manifest = make_world(tmp_path_factory.mktemp("world"), 12, WorldConfig(num_classes=4, seed=3))
    return read_manifest(manifest)


@pytest.fixture(scope="session")
def world_dir(world):
    """The directory of the `world` fixture's manifest."""
    return world[0].inputs["vision"].parent.parent


@pytest.fixture(scope="session")
def mini_run(tmp_path_factory):
    """A minutes-free end-to-end run: tiny world, 1-epoch anchor and bind, with its report."""
    from edgebind.training.reproduce import ReproduceConfig, reproduce

    out = tmp_path_factory.mktemp("mini")
    report = reproduce(ReproduceConfig(out=str(out), train_samples=48, test_samples=24, classes=4,
                                       anchor_epochs=1, bind_epochs=1, batch_size=16, progress=False))
    return out, report


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    """A private PulseAudio daemon (tests/pulse_audio.py) that PortAudio's "pulse" device reaches."""
    from edgebind.drivers.mic import load_sounddevice
    from edgebind.errors import MissingDependencyError

    from pulse_audio import PulseDaemon

    daemon = PulseDaemon(tmp_path_factory.mktemp("pulse"))
    old_server = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = daemon.env["PULSE_SERVER"]  # before PortAudio looks for devices
    try:
        sd = load_sounddevice("the mic tests")
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    daemon.start()
    # sounddevice may have been imported by an earlier test module, with PortAudio's device list
    # made before this daemon ran: refresh it (the driver does so itself when it connects).
    sd._terminate()
    sd._initialize()
    yield daemon
    daemon.kill()
    if old_server is None:
        del os.environ["PULSE_SERVER"]
    else:
        os.environ["PULSE_SERVER"] = old_server
    sd._terminate()
    sd._initialize()
