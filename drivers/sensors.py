"""Sensor lists as a command line gives them: `--sensors sim,imu --set imu.port=/dev/ttyUSB0`.

A name is `sim` (the simulated audio, depth, thermal and IMU set), one of those alone
(`sim_audio`, `sim_depth`, `sim_thermal`, `sim_imu`), or a driver type (`imu`, `replay`, ...).
`--set NAME.KEY=VALUE` sets a config key of the source NAME (`sim` sets it on every sim source);
VALUE is read as JSON when it parses (numbers, true, lists) and as a string otherwise.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from edgebind.drivers.sim import MODALITIES as SIM_MODALITIES
from edgebind.drivers.source import SOURCES, SourceConfig, source_config
from edgebind.errors import ConfigError


def sensor_configs(names: "str | Sequence[str]", settings: Sequence[str] = ()) -> list[SourceConfig]:
    """Typed source configs for `names` with `settings` applied; errors name the sensor and key."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    entries: dict[str, dict[str, Any]] = {}
    for name in names:
        entries.update(_expand(name))
    for setting in settings:
        target, key, value = _parse_setting(setting)
        matched = [n for n in entries if n == target or (target == "sim" and entries[n]["type"] == "sim")]
        if not matched:
            raise ConfigError(f"--set {setting}: no sensor named {target!r}; sensors: {', '.join(entries)}")
        for n in matched:
            entries[n][key] = value
    configs = []
    for name, entry in entries.items():
        try:
            configs.append(source_config(entry, f"sensor {name}"))
        except ConfigError as exc:
            raise ConfigError(f"{exc} (set a key with --set {name}.KEY=VALUE)") from None
    return configs


def _expand(name: str) -> dict[str, dict[str, Any]]:
    if name == "sim":
        return {f"sim_{m}": {"type": "sim", "modality": m, "name": f"sim_{m}"} for m in SIM_MODALITIES}
    if name.startswith("sim_") and name[4:] in SIM_MODALITIES:
        return {name: {"type": "sim", "modality": name[4:], "name": name}}
    if name in SOURCES and name != "sim":
        return {name: {"type": name, "name": name}}
    known = ["sim"] + [f"sim_{m}" for m in SIM_MODALITIES] + [n for n in SOURCES if n != "sim"]
    raise ConfigError(f"unknown sensor {name!r}; choose from: {', '.join(known)}")


def _parse_setting(setting: str) -> tuple[str, str, Any]:
    target_key, sep, raw = setting.partition("=")
    target, dot, key = target_key.partition(".")
    if not (sep and dot and target and key):
        raise ConfigError(f"--set {setting!r}: expected NAME.KEY=VALUE, e.g. imu.port=/dev/ttyUSB0")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return target, key, value
