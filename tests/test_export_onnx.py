"""ONNX export of the shipped model: all six encoders with both exporters, the manifest, the static
checks (each caught on a small bad graph), the parity gates (a perturbed graph fails them, a failed
export writes nothing), external data, and the node and `edgebind embed` on an export directory."""
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the export extra (onnx) is not installed")
pytest.importorskip("onnxruntime", reason="the export extra (onnxruntime) is not installed")
from onnx import TensorProto, helper  # noqa: E402

from edgebind.cli.main import main  # noqa: E402
from edgebind.config import to_dict  # noqa: E402
from edgebind.errors import ConfigError  # noqa: E402
from edgebind.export.checks import check_graph  # noqa: E402
from edgebind.export.graph import ExportError, save_graph  # noqa: E402
from edgebind.export.parity import Gates, held_out, measure  # noqa: E402
from edgebind.export.pipeline import ExportOptions, export_model  # noqa: E402
from edgebind.export.runtime import ExportedModel, OnnxEncoder  # noqa: E402
from edgebind.modality import Modality  # noqa: E402
from edgebind.runtime import Embedding, Node  # noqa: E402
from edgebind.runtime.backend import TorchBackend, TorchConfig, build_backend  # noqa: E402

MODEL = "edgebind-tiny-synthetic"
SIX = ("vision", "text", "audio", "depth", "thermal", "imu")
FAST = ExportOptions(samples=16, latency_runs=3)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_model(MODEL, tmp_path_factory.mktemp("exp") / "tiny", options=FAST)


@pytest.fixture(scope="module")
def tiny():
    import edgebind

    return edgebind.create_model(MODEL)


def test_all_six_encoders_export_with_a_manifest_that_rebuilds_the_preprocessing(exported, tiny):
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["model_id"] == MODEL
    assert len(manifest["checkpoint_sha256"]) == 64 and manifest["embed_dim"] == 64
    assert list(manifest["encoders"]) == list(SIX)
    for name, entry in manifest["encoders"].items():
        assert (exported / entry["file"]).is_file() and entry["external_data"] is None
        assert entry["input"]["shape"][0] == "batch"
        assert (entry["opset"], entry["exporter"], entry["precision"]) == (17, "torchscript", "fp32")
        assert entry["parity"]["cosine_min"] >= 0.9999 and entry["latency_ms"]["p50"] > 0
        assert check_graph(exported / entry["file"]) == []
    assert manifest["encoders"]["text"]["input"]["dtype"] == "int64"
    assert manifest["encoders"]["audio"]["input"]["shape"] == ["batch", 1, 1, 128, 204]
    assert manifest["encoders"]["audio"]["logit_scale"] == pytest.approx(20.0)
    assert manifest["encoders"]["vision"]["parity"]["zeroshot_top1_export"] == \
        manifest["encoders"]["vision"]["parity"]["zeroshot_top1_torch"]
    # Preprocessing comes from the manifest alone and matches the model's own transform.
    loaded = ExportedModel(exported)
    for name in SIX:
        same = [json.dumps(to_dict(t.transform(name).config)) for t in (loaded, tiny)]
        assert same[0] == same[1]


def test_the_dynamo_exporter_exports_all_six_at_opset_18_and_refuses_17(tmp_path):
    out = export_model(MODEL, tmp_path / "dyn", options=ExportOptions(dynamo=True, samples=8, latency_runs=2))
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["encoders"]) == list(SIX)
    for entry in manifest["encoders"].values():
        assert (entry["exporter"], entry["opset"]) == ("dynamo", 18)
        assert entry["parity"]["cosine_min"] >= 0.9999
        assert check_graph(out / entry["file"]) == []
    with pytest.raises(ConfigError, match="dynamo exporter writes opset 18.*--no-dynamo"):
        export_model(MODEL, tmp_path / "d17", ["imu"], ExportOptions(dynamo=True, opset=17))


def test_batches_of_any_size_match_pytorch(exported, tiny):
    import torch

    loaded = ExportedModel(exported)
    for name, x in {"imu": torch.randn(5, 6, 400), "text": tiny.transform("text").batch(["a", "b c", "d"])}.items():
        ref = tiny.embed_tensors(name, x).numpy()
        assert (loaded.embed_tensors(name, x, batch_size=2) * ref).sum(1).min() >= 0.9999


def _graph(tmp_path, nodes, inputs, outputs, opset=17, initializers=(), name="bad.onnx"):
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(initializers)),
                              opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / name
    onnx.save_model(model, str(path))
    return path


def _value(name, dtype=TensorProto.FLOAT, shape=(2, 4)):
    return helper.make_tensor_value_info(name, dtype, list(shape))


def test_each_static_check_catches_a_graph_that_breaks_it(tmp_path):
    x, y = _value("x"), _value("y")
    ok = _graph(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [x], [y], name="ok.onnx")
    assert check_graph(ok) == []
    # An int64 ArgMax (the text tower's end-token lookup done naively); an int32 one is fine.
    ids, idx = _value("ids", TensorProto.INT64), _value("i", TensorProto.INT64, (2,))
    argmax = _graph(tmp_path, [helper.make_node("ArgMax", ["ids"], ["i"], axis=1, keepdims=0)], [ids], [idx])
    assert any("int64 ArgMax" in p for p in check_graph(argmax))
    ids32 = _value("ids", TensorProto.INT32)
    fine = _graph(tmp_path, [helper.make_node("ArgMax", ["ids"], ["i"], axis=1, keepdims=0)], [ids32], [idx],
                  name="argmax32.onnx")
    assert check_graph(fine) == []
    # MultiheadAttention's fast path as the TorchScript exporter's ATen fallback.
    fused = helper.make_model(helper.make_graph(
        [helper.make_node("ATen", ["x"], ["y"], domain="org.pytorch.aten", operator="_native_multi_head_attention")],
        "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("org.pytorch.aten", 1)])
    onnx.save_model(fused, str(tmp_path / "fused.onnx"))
    assert any("fused attention op(s) _native_multi_head_attention" in p for p in check_graph(tmp_path / "fused.onnx"))
    # A decomposed LayerNorm: no LayerNormalization node where the source had one.
    assert any("0 LayerNormalization node(s) for 1 LayerNorm" in p for p in check_graph(ok, layer_norms=1))
    layer_norm = _graph(tmp_path, [helper.make_node("LayerNormalization", ["x", "s"], ["y"])], [x], [y],
                        initializers=[helper.make_tensor("s", TensorProto.FLOAT, [4], [1.0] * 4)], name="ln.onnx")
    assert check_graph(layer_norm, layer_norms=1) == []
    # A graph the full checker rejects (a node reading a value nothing defines).
    dangling = _graph(tmp_path, [helper.make_node("Add", ["x", "nowhere"], ["y"])], [x], [y], name="dangling.onnx")
    assert any("onnx.checker full check fails" in p for p in check_graph(dangling))
    # Big weights inside the file, and an external data file that went missing.
    assert any("belong in an external data file" in p for p in check_graph(layer_norm, external_threshold=8))
    moved = save_graph(onnx.load(str(layer_norm)), tmp_path / "ext.onnx", external_threshold=8)
    assert moved.data is not None and check_graph(moved.path, external_threshold=8) == []
    moved.data.unlink()
    assert any("ext.onnx.data missing" in p for p in check_graph(moved.path, external_threshold=8))


def test_weights_above_the_threshold_go_to_external_data(tmp_path):
    out = export_model(MODEL, tmp_path / "ext", ["imu"], ExportOptions(samples=8, latency_runs=2,
                                                                       external_threshold=1000))
    entry = json.loads((out / "manifest.json").read_text())["encoders"]["imu"]
    assert entry["external_data"] == "imu.onnx.data"
    assert (out / "imu.onnx.data").stat().st_size > (out / "imu.onnx").stat().st_size
    assert check_graph(out / "imu.onnx", external_threshold=1000) == []
    assert build_backend({"model": str(out)}).embed("imu", [np.zeros((400, 6), np.float32)]).shape == (1, 64)


def test_a_perturbed_graph_fails_the_parity_gate_naming_encoder_and_figures(exported, tiny, tmp_path):
    proto = onnx.load(str(exported / "audio.onnx"))
    weight = max(proto.graph.initializer, key=lambda t: len(t.raw_data))
    values = onnx.numpy_helper.to_array(weight).copy()
    values += np.random.default_rng(0).normal(0, 0.05, values.shape).astype(values.dtype)
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    onnx.save_model(proto, str(tmp_path / "audio.onnx"))
    data = held_out(tiny, [Modality.AUDIO], 16, 8, tmp_path / "heldout")
    torch_audio = lambda x: tiny.embed_tensors("audio", x).numpy()  # noqa: E731
    good = measure("audio", data, torch_audio, OnnxEncoder(exported / "audio.onnx"), None, None)
    assert good.failures(Gates()) == []
    parity = measure("audio", data, torch_audio, OnnxEncoder(tmp_path / "audio.onnx"), None, None)
    [failure] = parity.failures(Gates())
    assert failure.startswith("audio: cosine vs PyTorch min 0.") and "below the gate 0.9999" in failure


def test_a_failing_gate_fails_the_export_and_writes_nothing(tmp_path, capsys):
    strict = ExportOptions(samples=8, latency_runs=2, gates=Gates(min_cosine=1.5))
    with pytest.raises(ExportError, match=r"parity gates failed, nothing was written:\n  imu: cosine vs PyTorch min"):
        export_model(MODEL, tmp_path / "out", ["imu"], strict)
    assert list(tmp_path.iterdir()) == []  # no out, no staging folder left behind
    with pytest.raises(ConfigError, match="random, untrained weights.*--allow-random-weights"):
        export_model("edgebind-tiny", tmp_path / "out", ["imu"], FAST)
    assert main(["export", "--model", "edgebind-tiny", "--modalities", "imu", "--out", str(tmp_path / "o")]) == 2
    assert "--allow-random-weights" in capsys.readouterr().err


def test_the_export_command_and_embed_on_its_directory(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["export", "--model", MODEL, "--modalities", "imu,text", "--out", str(out), "--samples", "8"]) == 0
    printed = capsys.readouterr().out
    assert "imu      imu.onnx: cosine min" in printed and "exported 2 encoder(s)" in printed
    assert sorted(json.loads((out / "manifest.json").read_text())["encoders"]) == ["imu", "text"]
    texts = ["a drone", "a large hot fan"]
    assert main(["embed", "--model", str(out), "--modality", "text", *texts, "--out", str(tmp_path / "o.npy")]) == 0
    assert main(["embed", "--modality", "text", *texts, "--out", str(tmp_path / "t.npy")]) == 0
    assert (np.load(tmp_path / "o.npy") * np.load(tmp_path / "t.npy")).sum(1).min() >= 0.9999


def test_the_node_picks_onnxruntime_for_an_export_dir_and_embeds_as_torch_does(exported):
    sensors = [{"type": "sim", "modality": m, "name": f"sim_{m}", "speed": 0, "duration_s": 4.0}
               for m in ("audio", "depth", "imu")]
    runs = {}
    for name, backend in (("onnx", None), ("torch", TorchBackend(TorchConfig()))):
        config = {"sensors": sensors, "backend": {"model": str(exported)}}
        with Node(config, backend=backend) as node:
            if backend is None:
                assert type(node.backend).__name__ == "OnnxRuntimeBackend"
                assert node.backend.model_id == MODEL  # calibrations and stores of the torch model stay valid
                assert node.backend.window_s("audio") == 2.0
            embedded = sorted(((e.source, e.t_start, e.t_end, e.vector) for e in node if isinstance(e, Embedding)),
                              key=lambda e: e[:3])  # onset windows share a start
            runs[name] = [(source, vector) for source, _, _, vector in embedded]  # host times differ per run
    assert [s for s, _ in runs["onnx"]] == [s for s, _ in runs["torch"]] and len(runs["onnx"]) > 6
    assert min(float(a @ b) for (_, a), (_, b) in zip(runs["onnx"], runs["torch"])) >= 0.9999


def test_onnxruntime_config_checks_the_model_is_an_export_dir(tmp_path):
    with pytest.raises(ConfigError, match="not an export directory.*edgebind export"):
        build_backend({"type": "onnxruntime", "model": str(tmp_path)})


def test_a_missing_onnxruntime_names_the_export_extra(exported, monkeypatch):
    import sys

    from edgebind.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` meets when absent
    with pytest.raises(MissingDependencyError, match=r"pip install 'edgebind\[export\]'"):
        build_backend({"model": str(exported)})
