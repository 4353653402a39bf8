"""INT8 / FP16 variants and `edgebind bench`: the int8 export passes its gates with zero points 0 and
only weight-bearing MatMul/Gemm/Conv quantized, a constant calibration fails the gate and writes
nothing, the zero-shot gate fails a drop and not a gain, the fp32 fallback rescues an encoder that
all-int8 breaks, the node's backend runs the int8 variant, and bench writes every figure."""
import dataclasses
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the export extra (onnx) is not installed")
pytest.importorskip("onnxruntime", reason="the export extra (onnxruntime) is not installed")
from edgebind.cli.main import main  # noqa: E402
from edgebind.errors import ConfigError  # noqa: E402
from edgebind.export.bench import write_default_backend  # noqa: E402
from edgebind.export.fallback import quantize_with_fallback  # noqa: E402
from edgebind.export.graph import ExportError  # noqa: E402
from edgebind.export.parity import Gates, Parity, held_out  # noqa: E402
from edgebind.export.pipeline import ExportOptions, export_model  # noqa: E402
from edgebind.export.runtime import OnnxEncoder  # noqa: E402
from edgebind.export.quantize import check_quantized, quantizable_nodes, quantized_ops  # noqa: E402
from edgebind.modality import Modality  # noqa: E402
from edgebind.models import create_model  # noqa: E402
from edgebind.runtime.backend import build_backend  # noqa: E402
from isolated import OPENVINO_MISSING, in_subprocess  # noqa: E402

MODEL = "edgebind-tiny-synthetic"
QUANT = ExportOptions(samples=16, latency_runs=2, precisions=("fp32", "int8"), calib=16)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_model(MODEL, tmp_path_factory.mktemp("q") / "tiny", ["audio", "text"], QUANT)


def test_int8_variants_pass_their_gates_and_are_listed_in_the_manifest(exported):
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["precisions"] == ["fp32", "int8"]
    for name in ("audio", "text"):
        variant = manifest["encoders"][name]["variants"]["int8"]
        assert variant["file"] == f"{name}.int8.onnx" and (exported / variant["file"]).is_file()
        assert 0.99 <= variant["parity"]["cosine_min"] < 1.0  # really quantized, within the gate
        assert variant["quantization"]["calibration_seed"] != manifest["gates"]["heldout_seed"]
    audio = manifest["encoders"]["audio"]["variants"]["int8"]["parity"]
    assert abs(audio["zeroshot_top1_export"] - audio["zeroshot_top1_torch"]) <= 1.0


def test_zero_points_are_zero_and_only_weight_bearing_matmul_gemm_conv_are_quantized(exported):
    path = exported / "audio.int8.onnx"
    assert check_quantized(path) == []
    ops = quantized_ops(path)
    assert set(ops) <= {"MatMul", "Gemm", "Conv", "Shape"} and ops["Conv"] == 1 and ops["MatMul"] >= 4
    model = onnx.load(str(path))
    dq = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    for node in model.graph.node:  # LayerNorm, softmax, GELU, adds and the norm read fp32 values
        if node.op_type in ("LayerNormalization", "Softmax", "Erf", "Add", "ReduceL2", "Div"):
            assert not set(node.input) & dq, node.name
    # The static check catches a non-zero zero point.
    zp = next(t for t in model.graph.initializer if t.name.endswith("_zero_point") and t.dims == [])
    zp.CopyFrom(onnx.numpy_helper.from_array(np.array(3, np.int8), zp.name))
    onnx.save_model(model, str(exported.parent / "bad.onnx"))
    assert any("zero point not 0" in p for p in check_quantized(exported.parent / "bad.onnx"))


def test_a_constant_calibration_fails_the_gate_and_writes_nothing(tmp_path, exported):
    shape = json.loads((exported / "manifest.json").read_text())["encoders"]["audio"]["input"]["shape"][1:]
    bad = ExportOptions(samples=16, latency_runs=2, precisions=("fp32", "int8"), int8_fallback=0,
                        calib_inputs={"audio": np.zeros((1, *shape), np.float32)})
    with pytest.raises(ExportError, match=r"audio int8: cosine vs PyTorch min .* below the gate 0.99"):
        export_model(MODEL, tmp_path / "out", ["audio"], bad)
    assert list(tmp_path.iterdir()) == []


def test_the_zero_shot_gate_fails_a_drop_of_more_than_a_point_and_never_a_gain():
    gates = Gates(min_cosine=0.99)
    drop = Parity("imu int8", 256, 0.999, 0.9999, top1_torch=80.0, top1_export=78.5)
    assert drop.failures(gates) == ["imu int8: zero-shot top-1 78.5% vs PyTorch 80.0% is more than 1.0 point(s) "
                                    "below it over 256 held-out inputs"]
    assert Parity("imu int8", 256, 0.999, 0.9999, top1_torch=80.0, top1_export=79.0).failures(gates) == []
    # One flip for the better on 32 inputs is +3.1 points: it failed the old two-sided gate.
    assert Parity("thermal int8", 32, 0.999, 0.9999, top1_torch=68.75, top1_export=71.875).failures(gates) == []


def test_the_fp32_fallback_keeps_the_imu_input_projection_and_the_export_passes(tmp_path):
    # All-int8, the tiny IMU encoder's worst held-out cosine is 0.981: below the gate, nothing written.
    options = ExportOptions(latency_runs=2, precisions=("fp32", "int8"))
    with pytest.raises(ExportError, match=r"imu int8: cosine vs PyTorch min 0\.9[0-8]\d* .* below the gate 0\.99"):
        export_model(MODEL, tmp_path / "off", ["imu"], dataclasses.replace(options, int8_fallback=0))
    assert not (tmp_path / "off").exists()
    out = export_model(MODEL, tmp_path / "on", ["imu"], options)
    variant = json.loads((out / "manifest.json").read_text())["encoders"]["imu"]["variants"]["int8"]
    fallback = variant["quantization"]["fallback"]
    assert fallback["kept_fp32"] == ["/imu/proj/MatMul"] and fallback["trials"] == 1  # the first in graph order
    assert fallback["probe_cosine_min_all_int8"] < 0.995 <= fallback["probe_cosine_min"]
    assert variant["parity"]["cosine_min"] >= 0.99 and check_quantized(out / "imu.int8.onnx") == []
    graph = onnx.load(str(out / "imu.int8.onnx"))
    dq = {o for n in graph.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    kept = [n for n in graph.graph.node if n.name == "/imu/proj/MatMul"]
    assert len(kept) == 1 and not set(kept[0].input) & dq  # it reads fp32 values
    assert quantized_ops(out / "imu.int8.onnx")["MatMul"] >= 4  # the rest is still int8
    # Where no single node reaches the target, a round tries every node and keeps the one that helped most.
    windows = held_out(create_model(MODEL), [Modality.IMU], 64, 8, tmp_path / "windows").inputs["imu"].numpy()
    fp32 = out / "imu.onnx"
    _, report = quantize_with_fallback(fp32, tmp_path / "x.int8.onnx", windows[:32], windows[32:],
                                       OnnxEncoder(fp32).input_name, max_kept=1, target=1.01)
    assert report.trials == len(quantizable_nodes(fp32)) and report.kept_fp32 == ["/imu/proj/MatMul"]
    assert report.cosine_min > report.cosine_min_all_int8


def test_the_backend_runs_the_int8_variant_and_refuses_a_missing_one(exported):
    clip = [np.random.default_rng(0).normal(0, 0.1, 32000).astype(np.float32)]
    int8 = build_backend({"model": str(exported), "precision": "int8"}, ["audio"])
    fp32 = build_backend({"model": str(exported)}, ["audio"])
    assert "int8" in int8.describe() and "fp32" in fp32.describe()
    a, b = int8.embed("audio", [(clip[0], 16000)]), fp32.embed("audio", [(clip[0], 16000)])
    assert 0.98 <= float((a @ b.T)[0, 0]) < 1.0
    with pytest.raises(ConfigError, match="no fp16 variant of the audio encoder.*--precision fp32,fp16"):
        build_backend({"model": str(exported), "precision": "fp16"}, ["audio"])


def test_bench_writes_every_figure_and_pick_sets_the_default_backend(exported, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--model", str(exported), "--modalities", "audio", "--batch", "1,2", "--runs", "2",
                 "--out", str(out), "--pick", "--no-openvino"]) == 0
    result = json.loads(out.read_text())
    keys = {(r["backend"], r["precision"], r["batch"]) for r in result["rows"]}
    assert keys == {(b, p, n) for b, p in (("torch", "fp32"), ("torch", "bf16"), ("onnxruntime", "fp32"),
                                            ("onnxruntime", "int8")) for n in (1, 2)}
    for row in result["rows"]:
        assert row["p99_ms"] >= row["p50_ms"] > 0 and row["throughput_per_s"] > 0 and row["gflop"] > 0
        assert row["achieved_gflops"] > 0 and 0.98 <= row["cosine_vs_eager_fp32"] <= 1.000001
    choice = json.loads((exported / "manifest.json").read_text())["default_backend"]
    assert choice["type"] == "onnxruntime" and choice == result["pick"]
    assert build_backend({"model": str(exported)}, ["audio"]).model.precision == choice["precision"]
    assert "default_backend of" in capsys.readouterr().out
    write_default_backend(exported, {**choice, "precision": "int8"})  # the backend follows the manifest's choice
    assert build_backend({"model": str(exported)}, ["audio"]).model.precision == "int8"
    assert build_backend({"model": str(exported), "precision": "fp32"}, ["audio"]).model.precision == "fp32"


def test_shared_activations_and_merged_initializers_stay_fp32_outside_matmul_gemm_conv(tmp_path):
    """x feeds a MatMul, a Sigmoid and a residual Add; a zero bias is shared by a Gemm and a LayerNorm (what the
    exporter makes of a fresh model): neither the Add nor the LayerNorm may read an int8 copy."""
    from onnx import TensorProto, helper, numpy_helper

    from edgebind.export.quantize import quantize_int8

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=(8, 8)).astype(np.float32), n) for n in ("w1", "w2")]
    zeros = numpy_helper.from_array(np.zeros(8, np.float32), "zero")
    ones = numpy_helper.from_array(np.ones(8, np.float32), "one")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Mul", ["h", "s"], ["m"]), helper.make_node("Add", ["x", "m"], ["r"]),
             helper.make_node("LayerNormalization", ["r", "one", "zero"], ["n"]),
             helper.make_node("Gemm", ["n", "w2", "zero"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 8])],
                              [*weights, zeros, ones])
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "g.onnx"))
    q = quantize_int8(tmp_path / "g.onnx", tmp_path / "g.int8.onnx", rng.normal(size=(16, 8)).astype(np.float32), "x")
    assert check_quantized(q.path) == []
    # The MatMul stays fp32: its input is the Sigmoid's and the residual's too.
    assert quantized_ops(q.path) == {"Gemm": 1}


@in_subprocess("openvino", OPENVINO_MISSING)
def test_the_openvino_backend_runs_each_precision_and_is_picked_from_the_manifest(exported):
    pytest.importorskip("openvino", reason=OPENVINO_MISSING)
    clip = (np.random.default_rng(1).normal(0, 0.1, 32000).astype(np.float32), 16000)
    ref = build_backend({"model": str(exported), "precision": "fp32"}, ["audio"]).embed("audio", [clip])
    for precision in ("fp32", "bf16", "int8"):
        backend = build_backend({"type": "openvino", "model": str(exported), "precision": precision}, ["audio"])
        assert backend.describe().startswith(f"openvino CPU {precision} ")
        assert float((backend.embed("audio", [clip]) @ ref.T)[0, 0]) >= (0.9999 if precision == "fp32" else 0.98)
    write_default_backend(exported, {"type": "openvino", "precision": "int8"})
    picked = build_backend({"model": str(exported)}, ["audio"])  # no type: the manifest's default_backend
    assert picked.describe().startswith("openvino CPU int8 ")
    with pytest.raises(ConfigError, match="openvino backend precision"):
        build_backend({"type": "openvino", "model": str(exported), "precision": "fp16"}, ["audio"])
