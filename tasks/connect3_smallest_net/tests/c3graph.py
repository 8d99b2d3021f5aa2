#!/usr/bin/env python3
"""How a Connect-3 network is measured: export it as a plain graph, then count and run that graph.

A model is never run as Python code when it is scored. It is first *exported*:
``/app/model.py``'s ``build_model()`` is called, ``/app/weights.pt`` (a state_dict)
is loaded into it strictly, and the model in eval mode is traced with
``torch.fx`` through every module (``nn.Linear``, ``nn.Conv2d``... included) into
a list of operations. Python control flow that depends on the board cannot be
traced, so the network must be a fixed graph of tensor operations. The export is
written as plain data (``graph.pt``: node list + tensors, loaded with
``weights_only=True``) and the scorer re-runs *that* graph with its own table of
allowed operations (``FUNCTIONS``, ``METHODS``): whatever ran during the export
does not matter, only the graph does.

What is counted (``count_params``):
- every element of every tensor the graph reads (parameters, buffers and any
  tensor constant, once per tensor however often it is used);
- every floating-point literal in an operation's arguments (e.g. ``x * 0.5``,
  a leaky-ReLU slope, a norm's eps), and every integer literal used as an
  arithmetic operand (``x + 3``); integers that are shapes, dims, indices,
  strides or paddings are free.

Limits: at most ``MAX_NODES`` operations, at most ``MAX_ACTIVATIONS`` intermediate
values per position (the sum of the sizes of every operation's output divided by
the batch size), at most ``MAX_PARAMS`` counted parameters, list literals of at
most 8 items, and an output of shape (batch, 5).

Scoring (``evaluate``): the input is a float32 tensor (batch, 2, 4, 5) -- plane 0
the stones of the player to move, plane 1 the opponent's, row 0 the bottom row;
the output is one score per column. Full columns are masked out and the
highest-scoring legal column is the move (ties: the leftmost). Accuracy is the
fraction of the *scored* positions of ``connect3.build_dataset()`` whose move is
one of the optimal moves.

    python3 c3graph.py export --model model.py --weights weights.pt --out graph.pt
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import operator
import os
import sys
import time
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F

GATE = 0.95
MAX_NODES = 256
MAX_ACTIVATIONS = 20_000
MAX_PARAMS = 1_000_000
MAX_LIST = 8
BATCH = 8192


class GraphError(Exception):
    """The model cannot be exported, or its graph breaks a rule."""


# ---- the allowed operations ----------------------------------------------------------------------
FUNCTIONS: dict[str, Any] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "neg": operator.neg, "matmul": operator.matmul, "getitem": operator.getitem, "pow": operator.pow,
    "torch.add": torch.add, "torch.sub": torch.sub, "torch.mul": torch.mul, "torch.div": torch.div,
    "torch.relu": torch.relu, "torch.tanh": torch.tanh, "torch.sigmoid": torch.sigmoid,
    "torch.abs": torch.abs, "torch.square": torch.square, "torch.sqrt": torch.sqrt,
    "torch.exp": torch.exp, "torch.clamp": torch.clamp, "torch.minimum": torch.minimum,
    "torch.maximum": torch.maximum, "torch.cat": torch.cat, "torch.stack": torch.stack,
    "torch.flip": torch.flip, "torch.roll": torch.roll, "torch.matmul": torch.matmul,
    "torch.bmm": torch.bmm, "torch.einsum": torch.einsum, "torch.sum": torch.sum,
    "torch.mean": torch.mean, "torch.amax": torch.amax, "torch.amin": torch.amin,
    "torch.max": torch.max, "torch.min": torch.min, "torch.cumsum": torch.cumsum,
    "torch.flatten": torch.flatten, "torch.reshape": torch.reshape,
    "torch.transpose": torch.transpose, "torch.permute": torch.permute,
    "torch.unsqueeze": torch.unsqueeze, "torch.squeeze": torch.squeeze,
    "torch.softmax": torch.softmax, "torch.log_softmax": torch.log_softmax,
    "torch.conv1d": torch.conv1d, "torch.conv2d": torch.conv2d,
    "F.linear": F.linear, "F.relu": F.relu, "F.relu6": F.relu6, "F.leaky_relu": F.leaky_relu,
    "F.gelu": F.gelu, "F.silu": F.silu, "F.elu": F.elu, "F.hardtanh": F.hardtanh,
    "F.softplus": F.softplus, "F.mish": F.mish, "F.hardswish": F.hardswish, "F.tanh": F.tanh,
    "F.sigmoid": F.sigmoid, "F.pad": F.pad, "F.layer_norm": F.layer_norm,
    "F.batch_norm": F.batch_norm, "F.softmax": F.softmax, "F.log_softmax": F.log_softmax,
    "F.max_pool2d": F.max_pool2d, "F.avg_pool2d": F.avg_pool2d,
}  # fmt: skip
METHODS = {
    "view", "reshape", "flatten", "unflatten", "permute", "transpose", "unsqueeze", "squeeze",
    "flip", "roll", "sum", "mean", "amax", "amin", "max", "min", "relu", "tanh", "sigmoid", "abs",
    "clamp", "contiguous", "expand", "expand_as", "repeat", "size", "t", "softmax", "log_softmax",
    "cumsum", "matmul", "mul", "add", "sub", "div", "neg", "pow", "exp", "square", "sqrt",
    "view_as", "reshape_as", "narrow", "chunk", "split", "unbind", "float",
}  # fmt: skip
# operations whose scalar operands are values (an integer literal there counts as a parameter)
ARITHMETIC = {
    "add", "sub", "mul", "truediv", "pow", "torch.add", "torch.sub", "torch.mul", "torch.div",
    "torch.clamp", "torch.minimum", "torch.maximum", "clamp", "div", "F.hardtanh",
    "F.leaky_relu", "F.elu", "F.softplus",
}  # fmt: skip
PAD_VALUE_ARG = 3  # F.pad(input, pad, mode, value): only the value is a value


# ---- export (runs the agent's code) -------------------------------------------------------------
class _TraceEverything(torch.fx.Tracer):
    def is_leaf_module(self, m: torch.nn.Module, qualname: str) -> bool:  # noqa: ARG002
        return False


def _function_name(fn: Any) -> str:
    for name, f in FUNCTIONS.items():
        if f is fn:
            return name
    raise GraphError(f"operation not allowed: {getattr(fn, '__module__', '?')}.{getattr(fn, '__name__', fn)}")


def _encode(v: Any) -> Any:
    if isinstance(v, torch.fx.Node):
        return ("node", v.name)
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, slice):
        return ("slice", _encode(v.start), _encode(v.stop), _encode(v.step))
    if v is Ellipsis:
        return ("ellipsis",)
    if isinstance(v, list | tuple):
        if len(v) > MAX_LIST:
            raise GraphError(f"a list literal of {len(v)} items (at most {MAX_LIST})")
        return ("list" if isinstance(v, list) else "tuple", [_encode(x) for x in v])
    if isinstance(v, dict):
        return ("dict", [(str(k), _encode(x)) for k, x in v.items()])
    raise GraphError(f"argument of unsupported type {type(v).__name__}: {v!r:.80}")


def export(model_path: str, weights_path: str) -> dict[str, Any]:
    """Build, load and trace the model; return the graph as plain data."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(model_path)))
    spec = importlib.util.spec_from_file_location("c3_model", model_path)
    if spec is None or spec.loader is None:
        raise GraphError(f"cannot import {model_path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not hasattr(mod, "build_model"):
        raise GraphError(f"{model_path} defines no build_model()")
    model = mod.build_model()
    if not isinstance(model, torch.nn.Module):
        raise GraphError("build_model() did not return a torch.nn.Module")
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    try:
        graph = _TraceEverything().trace(model)
    except Exception as exc:  # noqa: BLE001  (any trace failure is the model's)
        raise GraphError(f"the model cannot be traced by torch.fx: {type(exc).__name__}: {exc}") from None
    nodes: list[dict[str, Any]] = []
    tensors: dict[str, torch.Tensor] = {}
    for n in graph.nodes:
        if n.op == "get_attr":
            t = operator.attrgetter(n.target)(model)
            if not isinstance(t, torch.Tensor):
                raise GraphError(f"attribute {n.target} is not a tensor")
            tensors[n.target] = t.detach().clone()
            target = n.target
        elif n.op == "call_function":
            target = _function_name(n.target)
        elif n.op == "call_module":
            raise GraphError(f"module call left in the graph: {n.target}")
        else:
            target = str(n.target)
        nodes.append(
            {"name": n.name, "op": n.op, "target": target, "args": _encode(tuple(n.args)),
             "kwargs": _encode(dict(n.kwargs))}
        )  # fmt: skip
    return {"format": "c3graph-1", "nodes": nodes, "tensors": tensors}


# ---- the scorer's side: validate, count, run -----------------------------------------------------
def load_graph(path: str) -> dict[str, Any]:
    try:
        g = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise GraphError(f"unreadable graph file: {type(exc).__name__}: {exc}") from None
    if not isinstance(g, dict) or g.get("format") != "c3graph-1":
        raise GraphError("not a c3graph-1 graph file")
    if not isinstance(g.get("nodes"), list) or not isinstance(g.get("tensors"), dict):
        raise GraphError("malformed graph file")
    return g


def _literals(v: Any, out: list[Any]) -> None:
    """Collect every scalar literal in an encoded argument (recursively)."""
    if isinstance(v, tuple) and v and v[0] == "node":
        return
    if isinstance(v, tuple) and v and v[0] in ("list", "tuple"):
        for x in v[1]:
            _literals(x, out)
    elif isinstance(v, tuple) and v and v[0] == "dict":
        for _k, x in v[1]:
            _literals(x, out)
    elif isinstance(v, tuple) and v and v[0] == "slice":
        for x in v[1:]:
            _literals(x, out)
    elif isinstance(v, int | float) and not isinstance(v, bool):
        out.append(v)


def _counted_literals(node: dict[str, Any]) -> int:
    everything: list[Any] = []
    _literals(node["args"], everything)
    _literals(node["kwargs"], everything)
    n = sum(1 for x in everything if isinstance(x, float))
    target = node["target"]
    values: list[Any] = []
    if target in ARITHMETIC:
        args = node["args"][1] if isinstance(node["args"], tuple) else []
        values += [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
        kw = node["kwargs"][1] if isinstance(node["kwargs"], tuple) else []
        values += [x for _k, x in kw if isinstance(x, int) and not isinstance(x, bool)]
    elif target == "F.pad":
        args = node["args"][1]
        if len(args) > PAD_VALUE_ARG and isinstance(args[PAD_VALUE_ARG], int):
            values.append(args[PAD_VALUE_ARG])
        kw = dict(node["kwargs"][1])
        if isinstance(kw.get("value"), int) and not isinstance(kw.get("value"), bool):
            values.append(kw["value"])
    return n + len(values)


def validate(g: dict[str, Any]) -> None:
    nodes = g["nodes"]
    names: set[str] = set()
    placeholders = outputs = compute = 0
    for nd in nodes:
        if not isinstance(nd, dict) or not {"name", "op", "target", "args", "kwargs"} <= set(nd):
            raise GraphError("malformed node")
        op, target = nd["op"], nd["target"]
        if op == "placeholder":
            placeholders += 1
        elif op == "output":
            outputs += 1
        elif op == "get_attr":
            if target not in g["tensors"] or not isinstance(g["tensors"][target], torch.Tensor):
                raise GraphError(f"get_attr of an unknown tensor {target!r}")
        elif op == "call_function":
            if target not in FUNCTIONS:
                raise GraphError(f"operation not allowed: {target}")
            compute += 1
        elif op == "call_method":
            if target not in METHODS:
                raise GraphError(f"method not allowed: .{target}()")
            compute += 1
        else:
            raise GraphError(f"node kind not allowed: {op}")
        names.add(nd["name"])
    if placeholders != 1 or outputs != 1:
        raise GraphError("the graph must have exactly one input and one output")
    if compute > MAX_NODES:
        raise GraphError(f"{compute} operations (at most {MAX_NODES})")


def count_params(g: dict[str, Any]) -> dict[str, int]:
    used = {nd["target"] for nd in g["nodes"] if nd["op"] == "get_attr"}
    tensor_elems = sum(int(g["tensors"][t].numel()) for t in used)
    literal = sum(_counted_literals(nd) for nd in g["nodes"] if nd["op"] in ("call_function", "call_method"))
    return {"params": tensor_elems + literal, "tensor_params": tensor_elems, "literal_params": literal}


def _decode(v: Any, env: dict[str, Any]) -> Any:
    if isinstance(v, tuple) and v:
        tag = v[0]
        if tag == "node":
            return env[v[1]]
        if tag == "list":
            return [_decode(x, env) for x in v[1]]
        if tag == "tuple":
            return tuple(_decode(x, env) for x in v[1])
        if tag == "dict":
            return {k: _decode(x, env) for k, x in v[1]}
        if tag == "slice":
            return slice(*(_decode(x, env) for x in v[1:]))
        if tag == "ellipsis":
            return Ellipsis
        raise GraphError(f"malformed argument tag {tag!r}")
    if v is None or isinstance(v, bool | int | float | str):
        return v
    raise GraphError(f"malformed argument {v!r:.60}")


def run_graph(g: dict[str, Any], x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Run the graph on x; return the output and the number of intermediate values produced."""
    env: dict[str, Any] = {}
    produced = 0
    out: Any = None
    for nd in g["nodes"]:
        op, target = nd["op"], nd["target"]
        if op == "placeholder":
            env[nd["name"]] = x
            continue
        if op == "get_attr":
            env[nd["name"]] = g["tensors"][target]
            continue
        args = _decode(nd["args"], env)
        kwargs = _decode(nd["kwargs"], env)
        if op == "output":
            out = args[0]
            break
        if op == "call_function":
            val = FUNCTIONS[target](*args, **kwargs)
        else:
            if not args or not isinstance(args[0], torch.Tensor) or target not in METHODS:
                raise GraphError(f"method .{target}() called on a non-tensor")
            val = getattr(args[0], target)(*args[1:], **kwargs)
        env[nd["name"]] = val
        for t in val if isinstance(val, tuple | list) else (val,):
            if isinstance(t, torch.Tensor):
                produced += t.numel()
    if not isinstance(out, torch.Tensor):
        raise GraphError("the graph's output is not a tensor")
    return out, produced


def evaluate(g: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Validate and run the graph on every scored position; return the metrics (raises GraphError)."""
    validate(g)
    counts = count_params(g)
    if counts["params"] > MAX_PARAMS:
        raise GraphError(f"{counts['params']} parameters (at most {MAX_PARAMS})")
    scored = torch.as_tensor(data["scored"], dtype=torch.bool)
    boards = torch.as_tensor(data["boards"])[scored].float()
    legal = torch.as_tensor(data["legal"], dtype=torch.bool)[scored]
    optimal = torch.as_tensor(data["optimal"], dtype=torch.bool)[scored]
    t0 = time.monotonic()
    with torch.no_grad():
        probe, produced = run_graph(g, boards[:64])
        per_position = produced / 64
        if per_position > MAX_ACTIVATIONS:
            raise GraphError(
                f"{per_position:.0f} intermediate values per position (at most {MAX_ACTIVATIONS})"
            )
        if tuple(probe.shape) != (64, 5):
            raise GraphError(f"output shape {tuple(probe.shape)} for a batch of 64 (expected (64, 5))")
        moves = []
        for i in range(0, len(boards), BATCH):
            out, _ = run_graph(g, boards[i : i + BATCH])
            out = out.float().masked_fill(~legal[i : i + BATCH], -math.inf)
            out = torch.nan_to_num(out, nan=-math.inf)
            moves.append(out.argmax(dim=1))
    move = torch.cat(moves)
    rows = torch.arange(len(move))
    correct = optimal[rows, move] & legal[rows, move]
    acc = float(correct.float().mean())
    return {
        "accuracy": acc,
        **counts,
        "log2_params": math.log2(max(counts["params"], 1)),
        "activations_per_position": round(per_position, 1),
        "operations": sum(1 for nd in g["nodes"] if nd["op"] in ("call_function", "call_method")),
        "positions": len(move),
        "eval_seconds": round(time.monotonic() - t0, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="export a Connect-3 model as a plain graph")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export")
    ex.add_argument("--model", required=True)
    ex.add_argument("--weights", required=True)
    ex.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        g = export(args.model, args.weights)
    except GraphError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        sys.exit(3)
    torch.save(g, args.out)


if __name__ == "__main__":
    main()
