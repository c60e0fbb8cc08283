"""Olive, started by the lab: the same `olive` command line, with two savings inside Olive's own process.

    python -m engine.steps.olive_run finetune ...      (any olive arguments; `olive` is the same as this)

1. **Hard links where Olive copies a model it already has on this disk.** Olive saves a step's output by
   copying: the finetune step's output holds a full copy of its input model (7.2 GB for Phi-3.5-mini), and the
   optimize step's ONNX model (2.7 GB) is copied out of Olive's cache. When the source lies inside
   the run folder (the folder above the step folder that `-o` names, holding state.json; or
   OLIVE_LAB_LINK_WITHIN) the files are hard-linked instead (Olive's
   own `hardlink_copy_file`, which copies where linking fails). A source outside it (a user's own model folder)
   is still copied, so a later edit of the user's files never reaches into a run.
2. **The ONNX builder's int4 step without a float copy of the model.** onnxruntime-genai 0.14.1's builder
   (`Model.to_int4`) turns the whole float32 model into one protobuf (15 GB at 3.8 B parameters) only for
   onnxruntime's MatMulNBitsQuantizer to read each MatMul weight back. Here each such weight is stood in for by
   a reference in that protobuf and handed to the same quantizer, unchanged, straight from the builder's tensor
   when it asks for it: the same function quantizes the same float32 values, so the model written is the same
   file, byte for byte (tests/test_olive_run.py compares both).
3. **No random initialisation of layers the builder throws away.** To split Phi-3's packed qkv and gate_up
   projections the builder makes new `torch.nn.Linear` layers and at once replaces their weights and biases;
   each new layer is first filled with random numbers by torch's single-threaded generator (0.15 s for one
   3072×8192 projection: about 15 s of the ONNX build at 32 layers, whatever the cores). Inside those unpacking
   methods a new Linear layer is left uninitialised; every one of its tensors is replaced before it is read.

All three are patches of Olive 0.13 / onnxruntime-genai 0.14.1 internals: each is applied only where the code it
replaces looks as expected, and otherwise Olive runs unchanged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

LINK_WITHIN = "OLIVE_LAB_LINK_WITHIN"
STAND_IN = "olive-lab-stand-in"  # the location a stood-in weight's reference names (never a file)


# ---------------------------------------------------------------- 1. hard links inside the run folder


def _inside(path: Path, folder: str) -> bool:
    try:
        return path.resolve().is_relative_to(Path(folder).resolve())
    except OSError:
        return False


def link_saves(within: str) -> bool:
    """Olive's folder copies (`olive.resource_path.copy_dir`) hard-link files whose source is inside `within`."""
    try:
        import olive.resource_path as resource_path
        from olive.common.utils import hardlink_copy_file
    except ImportError:
        return False
    original = getattr(resource_path, "copy_dir", None)
    if original is None or getattr(original, "olive_lab", False):
        return False

    def copy_dir(src_dir: Any, dst_dir: Any, ignore: Any = None, **kwargs: Any) -> Any:
        if _inside(Path(src_dir), within) and "copy_function" not in kwargs:
            kwargs["copy_function"] = hardlink_copy_file
        return original(src_dir, dst_dir, ignore=ignore, **kwargs)

    copy_dir.olive_lab = True  # type: ignore[attr-defined]
    resource_path.copy_dir = copy_dir
    return True


# ---------------------------------------------------------------- 2. int4 without a float protobuf


def _matmul_weights(model: Any) -> dict[str, Any]:
    """name -> graph value of each 2-D float initializer that is a MatMul's weight (input 1)."""
    import onnx_ir as ir

    floats = {ir.DataType.FLOAT, ir.DataType.FLOAT16, ir.DataType.BFLOAT16}
    found: dict[str, Any] = {}
    for node in model.graph.all_nodes() if hasattr(model.graph, "all_nodes") else model.graph:
        if node.op_type != "MatMul" or node.domain not in ("", "ai.onnx") or len(node.inputs) < 2:
            continue
        value = node.inputs[1]
        tensor = getattr(value, "const_value", None)
        if value is None or tensor is None or value.name is None or not value.is_initializer():
            continue
        if tensor.dtype in floats and len(tensor.shape) == 2:
            found[value.name] = value
    return found


class _IrShim:
    """The onnx_ir module as the quantizer sees it, except that a stood-in weight comes back as the real one."""

    def __init__(self, ir: Any, real: dict[str, Any]) -> None:
        self._ir, self._real = ir, real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ir, name)

    def from_proto(self, proto: Any) -> Any:
        import numpy as np
        import onnx

        if isinstance(proto, onnx.TensorProto) and proto.name in self._real and _is_stand_in(proto):
            real = self._real[proto.name]
            if isinstance(real, self._ir.LazyTensor):  # the builder's cast, made now as serializing would
                real = real._evaluate()
            raw: Any = getattr(real, "raw", None)
            if hasattr(raw, "contiguous") and str(raw.dtype) != "torch.bfloat16":  # torch lays out a .T view
                array = raw.detach().cpu().contiguous().numpy()
            else:
                array = np.ascontiguousarray(real.numpy())
            return self._ir.Tensor(array, name=proto.name)
        return self._ir.from_proto(proto)


def _is_stand_in(proto: Any) -> bool:
    import onnx

    return proto.data_location == onnx.TensorProto.EXTERNAL and any(
        e.key == "location" and e.value == STAND_IN for e in proto.external_data
    )


def fast_to_int4(builder: Any, original: Any) -> Any:
    """`Model.to_int4` with each MatMul weight handed to the quantizer from the builder's own tensor."""
    import onnx_ir as ir
    from onnxruntime.quantization import matmul_nbits_quantizer as mnq

    attrs = builder.quant_attrs["int4"]
    if attrs.get("algo_config") is not None or builder.quant_attrs.get("use_qdq"):
        return original(builder)  # only the default (RTN, QOperator) path is taken over
    weights = _matmul_weights(builder.model)
    real = {name: value.const_value for name, value in weights.items()}
    for name, value in weights.items():
        tensor = real[name]
        value.const_value = ir.ExternalTensor(
            STAND_IN,
            offset=0,
            length=0,
            dtype=tensor.dtype,
            shape=ir.Shape(tensor.shape),
            name=name,
            base_dir="",
        )
    shim = _IrShim(ir, real)
    try:
        proto = ir.to_proto(builder.model)
    finally:
        for name, value in weights.items():
            value.const_value = real[name]
    saved_ir = mnq.ir
    mnq.ir = shim
    try:
        quant = mnq.MatMulNBitsQuantizer(
            model=proto,
            block_size=attrs["qdq_block_size"],
            is_symmetric=attrs["is_symmetric"],
            accuracy_level=attrs["accuracy_level"],
            nodes_to_exclude=attrs["nodes_to_exclude"],
            quant_format=mnq.QuantFormat.QOperator,
            op_types_to_quantize=attrs["op_types_to_quantize"],
            algo_config=None,
        )
        quant.process()
    finally:
        mnq.ir = saved_ir
    print(
        f"olive-lab: {len(real)} MatMul weights went to the int4 quantizer without a float protobuf",
        file=sys.stderr,
    )
    model = ir.from_proto(quant.model.model)
    for value in model.graph.initializers.values():  # a weight the quantizer left (an excluded node)
        tensor = value.const_value
        if isinstance(tensor, ir.ExternalTensor) and tensor.location == STAND_IN:
            value.const_value = real[value.name]
    return model


def fast_int4() -> bool:
    """onnxruntime-genai's builder quantizes to int4 through `fast_to_int4` (0.14-style builders only)."""
    try:  # the builder imports its builders as a top-level package `builders` (it puts their folder on sys.path)
        from onnxruntime_genai.models import builder
    except ImportError:
        return False
    model_class = getattr(builder, "Model", None)
    base = sys.modules.get(getattr(model_class, "__module__", ""))
    original = getattr(model_class, "to_int4", None)
    if original is None or getattr(original, "olive_lab", False) or not hasattr(base, "MatMulNBitsQuantizer"):
        return False

    def to_int4(self: Any) -> Any:
        return fast_to_int4(self, original)

    to_int4.olive_lab = True  # type: ignore[attr-defined]
    model_class.to_int4 = to_int4  # type: ignore[union-attr]
    return True


# ---------------------------------------------------------------- 3. no throwaway random weights

UNPACKING = ("make_attention_unpacked", "make_mlp_unpacked")  # each sets every new Linear's weight and bias


def _without_linear_init(method: Any) -> Any:
    def unpack(self: Any, *args: Any, **kwargs: Any) -> Any:
        import torch

        reset = torch.nn.Linear.reset_parameters
        torch.nn.Linear.reset_parameters = lambda _layer: None  # type: ignore[method-assign,assignment]
        try:
            return method(self, *args, **kwargs)
        finally:
            torch.nn.Linear.reset_parameters = reset  # type: ignore[method-assign]

    unpack.olive_lab = True  # type: ignore[attr-defined]
    return unpack


def skip_unpack_init() -> bool:
    """The builder's qkv / gate_up unpacking makes its Linear layers without random weights (0.14-style builders)."""
    try:
        from onnxruntime_genai.models import builder
    except ImportError:
        return False
    model_class = getattr(builder, "Model", None)
    methods = [getattr(model_class, name, None) for name in UNPACKING]
    if any(m is None or getattr(m, "olive_lab", False) for m in methods):
        return False
    for name, method in zip(UNPACKING, methods, strict=True):
        setattr(model_class, name, _without_linear_init(method))
    return True


# ---------------------------------------------------------------- the command


def run_folder(args: list[str]) -> str | None:
    """The run folder a step's `-o runs/<id>/<step>/output` lies in (it holds state.json), else None."""
    for flag in ("-o", "--output_path"):
        if flag in args[:-1]:
            run = Path(args[args.index(flag) + 1]).resolve().parent.parent
            return str(run) if (run / "state.json").is_file() else None
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    within = os.environ.get(LINK_WITHIN) or run_folder(args)
    if within:
        link_saves(within)
    if args[:1] in (["auto-opt"], ["optimize"], ["capture-onnx-graph"]):
        fast_int4()
        skip_unpack_init()
    from olive.cli.launcher import main as olive_main

    sys.argv = ["olive", *args]
    olive_main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
