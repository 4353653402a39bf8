"""Launch profiles (YAML node configs) and the command line's changes to them.

A profile is a NodeConfig as YAML: `sensors`, `backend`, `windows`, `detector`, `events`,
`calibration`, queue sizes; the command line's options replace its values. With no profile and no
events, a node on the sim sensors detects the sim world's classes (each by its prompt ensemble)
with the shipped calibration, so `edgebind run` alone shows live events.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from edgebind.config import from_dict
from edgebind.errors import ConfigError
from edgebind.runtime.backend import DEFAULT_MODEL, source_model
from edgebind.runtime.node_config import NodeConfig

SIM_CALIBRATION = Path(__file__).with_name("sim_calibration.json")  # `edgebind calibrate`, see README


def load_profile(path: "str | Path") -> dict[str, Any]:
    """The YAML mapping in `path`; a missing file or bad YAML is a ConfigError saying where."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read profile {path}: {exc.strerror}; see launch/ for examples") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"profile {path} must be a mapping of node settings (sensors, backend, events, ...)")
    return data


def parse_detect(texts: Sequence[str]) -> list[dict[str, Any]]:
    """`--detect "glass breaking|breaking glass"`: an event named by its first prompt."""
    events = []
    for text in texts:
        prompts = [p.strip() for p in text.split("|") if p.strip()]
        if not prompts:
            raise ConfigError(f"--detect {text!r}: give the event as text, e.g. --detect \"glass breaking\"")
        events.append({"name": prompts[0], "prompts": prompts})
    return events


def sim_events(num_classes: int = 8) -> list[dict[str, Any]]:
    """The sim world's classes as events, each defined by its prompt ensemble."""
    from edgebind.synthetic import WorldConfig, prompt_ensemble

    classes = WorldConfig(num_classes=num_classes).class_names
    return [{"name": name, "prompts": prompts} for name, prompts in prompt_ensemble(classes).items()]


def node_config(profile: dict[str, Any] | None = None, *, sensors: list | None = None,
                backend: dict[str, Any] | None = None, detect: Sequence[str] = (), calibration: str | None = None,
                windows: dict[str, Any] | None = None, detector: dict[str, Any] | None = None,
                store: dict[str, Any] | None = None, where: str = "node") -> NodeConfig:
    """A NodeConfig: `profile` with the given parts replaced or merged in."""
    data = dict(profile or {})
    if sensors is not None:
        data["sensors"] = sensors
    for key, value in (("backend", backend), ("windows", windows), ("detector", detector), ("store", store)):
        if value:
            data[key] = {**(data.get(key) or {}), **value}
    if detect:
        data["events"] = parse_detect(detect)
    if calibration is not None:
        data["calibration"] = calibration
    config = from_dict(NodeConfig, data, where)
    if not config.events and all(s.type == "sim" for s in config.sensors):
        config.events = from_dict(NodeConfig, {"events": sim_events(config.sensors[0].num_classes)}, where).events
        if config.calibration is None and source_model(config.backend.model) == DEFAULT_MODEL:
            config.calibration = str(SIM_CALIBRATION)
    return config
