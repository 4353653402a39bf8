"""TensorRT engines inside an export directory: built from its graphs, listed in its manifest.

`<modality>.<precision>.engine` (+ `.engine.json`, the sidecar) is built from the graph of that
precision (fp32: `<modality>.onnx`, fp16 / int8: the variant) and recorded under the encoder's
`engines` in manifest.json. Everything is checked (the export, its variants, tensorrt and a GPU)
before anything is built, and engines are built in a staging folder: a failure writes nothing.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Optional

from edgebind.config import check_choice
from edgebind.errors import EngineError, ModalityError
from edgebind.export.runtime import MANIFEST_FILE, graph_file, read_manifest
from edgebind.export.tensorrt import ENGINE_PRECISIONS, BuildOptions, build_engine, preflight
from edgebind.modality import Modality

TIMING_CACHE = "tensorrt.timing-cache"  # shared by every build in the export directory


def engine_file(modality: str, precision: str) -> str:
    return f"{modality}.{precision}.engine"


def rebuild_command(export_dir: Path, precision: str, modality: Optional[str] = None) -> str:
    """The command line that (re)builds engines of `export_dir` on this machine."""
    only = f" --modalities {modality}" if modality else ""
    return f"edgebind engine build {shlex.quote(str(export_dir))} --precision {precision}{only}"


def engine_paths(export_dir: Path, entry: dict, modality: str, precision: str) -> tuple[Path, Path]:
    """(engine, graph it was built from) of `modality`'s manifest `entry`; none built raises EngineError."""
    engines = entry.get("engines", {})
    if precision not in engines:
        have = f"it has: {', '.join(engines)}" if engines else "none is built"
        raise EngineError(f"export {export_dir} has no {precision} TensorRT engine for {modality} ({have}); "
                          f"build it on this machine: {rebuild_command(export_dir, precision)}")
    record = engines[precision]
    return export_dir / record["file"], export_dir / record["onnx"]


def build_engines(export_dir: "str | Path", options: BuildOptions, precisions: Iterable[str] = ("fp16",),
                  modalities: Optional[Iterable[str]] = None, log=print) -> dict:
    """Build the engines of `export_dir`'s encoders (all, or `modalities`) in each of `precisions`,
    move them in and record them in the manifest; returns {(modality, precision): sidecar}."""
    export_dir = Path(export_dir).expanduser()
    manifest = read_manifest(export_dir)
    encoders = manifest["encoders"]
    names = [Modality.parse(m).value for m in modalities] if modalities else list(encoders)
    missing = [m for m in names if m not in encoders]
    if missing:
        raise ModalityError(f"export {export_dir} has no {', '.join(missing)} encoder; it has: {', '.join(encoders)}")
    precisions = list(precisions)
    for precision in precisions:
        check_choice(precision, ENGINE_PRECISIONS, "TensorRT precision")
    sources = {(m, p): graph_file(encoders[m], p, m) for m in names for p in precisions}  # missing variants fail here
    preflight("edgebind engine build", options.device)
    cache = options.timing_cache or export_dir / TIMING_CACHE
    staging = Path(tempfile.mkdtemp(dir=export_dir, prefix=".engines-"))
    built = {}
    try:
        for (modality, precision), graph in sources.items():
            name = engine_file(modality, precision)
            log(f"building {name} from {graph} (batch 1..{options.max_batch}, opt {options.opt_batch})")
            built[modality, precision] = build_engine(
                export_dir / graph, staging / name, replace(options, precision=precision, timing_cache=cache),
                rebuild_command(export_dir, precision, modality), log)
        for path in staging.iterdir():
            os.replace(path, export_dir / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for (modality, precision), info in built.items():
        encoders[modality].setdefault("engines", {})[precision] = {
            "file": engine_file(modality, precision), "sidecar": engine_file(modality, precision) + ".json",
            "onnx": sources[modality, precision], "max_batch": options.max_batch,
            **{k: info[k] for k in ("tensorrt", "gpu", "compute_capability", "onnx_sha256")}}
    write_manifest(export_dir, manifest)
    return built


def write_manifest(export_dir: Path, manifest: dict) -> None:
    """Replace `export_dir`'s manifest.json in one rename (a reader never sees half of it)."""
    tmp = export_dir / f".{MANIFEST_FILE}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, export_dir / MANIFEST_FILE)
