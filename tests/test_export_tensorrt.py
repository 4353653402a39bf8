"""TensorRT up to the library boundary: engine sidecars written and checked (each mismatch gives its
message and the rebuild command), `edgebind engine build` and the tensorrt backend failing in one line
without tensorrt or a GPU and writing nothing, a precision the export lacks, and onnxruntime's
execution-provider check. Real export directories and files throughout. Fakes stand only AT the
tensorrt module boundary: sys.modules["tensorrt"] = None for "not installed", and a stand-in module
whose Runtime.deserialize_cuda_engine returns None (what TensorRT does with a corrupt or foreign file).
Building and running a real engine needs tensorrt and an NVIDIA GPU; that test skips elsewhere."""
import json
import sys
import types

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="the export extra (onnx) is not installed")
ort = pytest.importorskip("onnxruntime", reason="the export extra (onnxruntime) is not installed")
from edgebind.cli.main import main  # noqa: E402
from edgebind.errors import ConfigError, EngineError, MissingDependencyError  # noqa: E402
from edgebind.export.engines import build_engines, rebuild_command  # noqa: E402
from edgebind.export.pipeline import ExportOptions, export_model  # noqa: E402
from edgebind.export.tensorrt import BuildOptions, Target, check_engine, load_engine, write_sidecar  # noqa: E402
from edgebind.runtime.backend import build_backend  # noqa: E402

MODEL = "edgebind-tiny-synthetic"
HERE = Target("11.4.0.106", "NVIDIA H100 80GB HBM3", "9.0")
PROFILE = {"input": {"min": [1, 1, 1, 128, 204], "opt": [1, 1, 1, 128, 204], "max": [8, 1, 1, 128, 204]}}


def _have_tensorrt_and_gpu() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    options = ExportOptions(samples=16, latency_runs=1, precisions=("fp32", "fp16"))
    return export_model(MODEL, tmp_path_factory.mktemp("trt") / "tiny", ["audio"], options)


@pytest.fixture
def engine(exported, tmp_path):
    """An engine file (bytes TensorRT never reads here) and the sidecar its build writes, beside a copy of
    the fp16 graph it names."""
    graph = tmp_path / "audio.fp16.onnx"
    graph.write_bytes((exported / "audio.fp16.onnx").read_bytes())
    path = tmp_path / "audio.fp16.engine"
    path.write_bytes(bytes(range(256)) * 4)
    write_sidecar(path, graph, HERE, BuildOptions(precision="fp16"), PROFILE, 12.5, rebuild_command(tmp_path, "fp16"))
    return path, graph


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_the_sidecar_records_the_build_and_a_matching_machine_passes(engine):
    path, graph = engine
    info = json.loads(path.with_name("audio.fp16.engine.json").read_text())
    assert (info["tensorrt"], info["gpu"], info["compute_capability"]) == (HERE.tensorrt, HERE.gpu, "9.0")
    assert info["precision"] == "fp16" and info["profile"] == PROFILE and info["engine_bytes"] == 1024
    assert info["onnx_file"] == "audio.fp16.onnx" and len(info["onnx_sha256"]) == 64 and info["built_at"]
    assert check_engine(path, graph, HERE, "REBUILD") == info


@pytest.mark.parametrize("target, message", [
    (Target("10.3.0", HERE.gpu, "9.0"), "built with TensorRT 11.4.0.106, this machine has 10.3.0"),
    (Target(HERE.tensorrt, "NVIDIA A100-SXM4-80GB", "9.0"),
     "built on a NVIDIA H100 80GB HBM3, this GPU is a NVIDIA A100"),
    (Target(HERE.tensorrt, HERE.gpu, "8.7"), "built for compute capability 9.0, this GPU has 8.7"),
])
def test_another_tensorrt_gpu_or_compute_capability_is_refused_with_the_rebuild_command(engine, target, message):
    path, graph = engine
    with pytest.raises(EngineError, match=f"does not fit here: {message}.*Rebuild it on this machine: "
                                          "edgebind engine build .* --precision fp16"):
        check_engine(path, graph, target, "edgebind engine build DIR --precision fp16")


def test_a_changed_graph_a_truncated_engine_and_a_missing_sidecar_are_refused(engine):
    path, graph = engine
    rebuild = "edgebind engine build DIR --precision fp16"
    graph.write_bytes(graph.read_bytes() + b"\0")  # the export's ONNX changed since the build
    with pytest.raises(EngineError, match=r"audio.fp16.onnx changed since the build \(sha256 \w{12}\.\.\. then"):
        check_engine(path, graph, HERE, rebuild)
    graph.write_bytes(graph.read_bytes()[:-1])
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(EngineError, match="the engine file has 1000 bytes, the build wrote 1024 \\(truncated"):
        check_engine(path, graph, HERE, rebuild)
    path.with_name("audio.fp16.engine.json").unlink()
    with pytest.raises(EngineError, match="has no sidecar audio.fp16.engine.json .*; rebuild it: edgebind engine"):
        check_engine(path, graph, HERE, rebuild)


def test_an_engine_file_tensorrt_rejects_is_an_engine_error_not_a_none(engine):
    """Stand-in for the tensorrt module: its Runtime deserialises nothing (TensorRT returns None for a
    corrupt or foreign plan after logging), so the code's handling of that None is what runs."""
    path, graph = engine

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            assert data == path.read_bytes()  # the checked file is what is handed over
            return None

    fake = types.SimpleNamespace(Runtime=Runtime, Logger=lambda level: None)
    fake.Logger.ERROR = 4
    with pytest.raises(EngineError, match=r"could not deserialize .*audio.fp16.engine although its sidecar matches "
                                          r"\(a corrupt file, 1024 bytes\); rebuild it: REBUILD"):
        load_engine(fake, path, graph, HERE, "REBUILD")
    with pytest.raises(EngineError, match="built with TensorRT"):  # the sidecar is checked before TensorRT reads it
        load_engine(fake, path, graph, Target("10.3.0", HERE.gpu, "9.0"), "REBUILD")


def test_engine_build_without_tensorrt_fails_in_one_line_and_writes_nothing(exported, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt raises ImportError
    before = _snapshot(exported)
    assert main(["engine", "build", str(exported), "--precision", "fp16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("edgebind engine: error: edgebind engine build needs tensorrt and "
                                                   "an NVIDIA GPU; missing here: the tensorrt package (pip install "
                                                   "'edgebind[tensorrt]'; on a Jetson, JetPack's TensorRT)")
    if not torch.cuda.is_available():
        assert "and an NVIDIA GPU for cuda:0 (torch sees 0 CUDA device(s))" in err
    assert _snapshot(exported) == before


def test_a_precision_the_export_lacks_or_a_bad_option_fails_before_anything_is_built(exported, capsys):
    before = _snapshot(exported)
    assert main(["engine", "build", str(exported), "--precision", "fp16,int8"]) == 2
    assert "no int8 variant of the audio encoder (it has: fp32, fp16); export it with --precision fp32,int8" \
        in capsys.readouterr().err
    assert main(["engine", "build", str(exported), "--max-batch", "4", "--opt-batch", "8"]) == 2
    assert "need 1 <= opt-batch <= max-batch" in capsys.readouterr().err
    assert main(["engine", "build", str(exported), "--modalities", "depth"]) == 2
    assert "has no depth encoder; it has: audio" in capsys.readouterr().err
    assert _snapshot(exported) == before
    with pytest.raises(ConfigError, match="TensorRT precision must be one of"):
        build_engines(exported, BuildOptions(), ["bf16"])


def test_the_tensorrt_backend_names_the_missing_engine_then_what_the_machine_lacks(exported, monkeypatch):
    with pytest.raises(EngineError, match=r"has no fp16 TensorRT engine for audio \(none is built\); build it on "
                                          r"this machine: edgebind engine build .*tiny --precision fp16"):
        build_backend({"type": "tensorrt", "model": str(exported)}, ["audio"])
    with pytest.raises(ConfigError, match="TensorRT device 'gpu0': give cuda or cuda:N"):
        build_backend({"type": "tensorrt", "model": str(exported), "device": "gpu0"}, ["audio"])
    # An engine the manifest lists: loading it needs tensorrt and a GPU before any file is read.
    manifest = json.loads((exported / "manifest.json").read_text())
    manifest["encoders"]["audio"]["engines"] = {"fp16": {"file": "audio.fp16.engine", "onnx": "audio.fp16.onnx"}}
    listed = exported.parent / "listed"
    listed.mkdir()
    for name in ("audio.onnx", "audio.fp16.onnx"):
        (listed / name).write_bytes((exported / name).read_bytes())
    (listed / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(MissingDependencyError, match="running a TensorRT engine needs tensorrt and an NVIDIA GPU"):
        build_backend({"type": "tensorrt", "model": str(listed)}, ["audio"])


def test_an_onnxruntime_provider_this_install_lacks_is_named_with_what_it_needs(exported):
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    with pytest.raises(ConfigError, match=r"CUDAExecutionProvider not available in this onnxruntime .*\(it has: "
                                          r".*CPUExecutionProvider\); CUDAExecutionProvider needs onnxruntime-gpu"):
        build_backend({"model": str(exported), "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]},
                      ["audio"])
    with pytest.raises(ConfigError, match="TensorrtExecutionProvider needs onnxruntime-gpu .*edgebind\\[tensorrt\\]"):
        build_backend({"model": str(exported), "providers": ["TensorrtExecutionProvider"]}, ["audio"])
    with pytest.raises(ConfigError, match="CPUExecutionProvidr needs a known name"):
        build_backend({"model": str(exported), "providers": ["CPUExecutionProvidr"]}, ["audio"])
    with pytest.raises(ConfigError, match="none given .*give at least one"):
        build_backend({"model": str(exported), "providers": []}, ["audio"])
    cpu = build_backend({"model": str(exported), "providers": ["CPUExecutionProvider"]}, ["audio"])
    assert cpu.describe().startswith("onnxruntime CPUExecutionProvider fp32")


@pytest.mark.skipif(not _have_tensorrt_and_gpu(), reason="needs tensorrt and an NVIDIA GPU")
def test_built_engines_run_close_to_onnxruntime_and_refuse_a_changed_graph(exported, tmp_path):
    built = build_engines(exported, BuildOptions(max_batch=4), ["fp32", "fp16"])
    manifest = json.loads((exported / "manifest.json").read_text())
    assert set(manifest["encoders"]["audio"]["engines"]) == {"fp32", "fp16"}
    assert (exported / "tensorrt.timing-cache").stat().st_size > 0
    assert built["audio", "fp16"]["profile"]["input"]["max"][0] == 4
    x = np.random.default_rng(0).normal(0, 1, (6, 1, 1, 128, 204)).astype(np.float32)  # 6 > max_batch: chunks
    ref = build_backend({"model": str(exported)}, ["audio"]).model.embed_tensors("audio", x)
    for precision, floor in (("fp32", 0.9999), ("fp16", 0.99)):
        y = build_backend({"type": "tensorrt", "model": str(exported), "precision": precision},
                          ["audio"]).model.embed_tensors("audio", x)
        assert float((y * ref).sum(1).min()) >= floor
    side = exported / "audio.fp16.engine.json"
    side.write_text(side.read_text().replace(built["audio", "fp16"]["tensorrt"], "0.0.0"))
    with pytest.raises(EngineError, match="built with TensorRT 0.0.0"):
        build_backend({"type": "tensorrt", "model": str(exported), "precision": "fp16"}, ["audio"])
