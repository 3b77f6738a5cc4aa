#!/usr/bin/env python3
"""Tiny numpy interpreter for the ONNX operators used by the Octet model zoo.

It is an independent check of the exports (onnxruntime is not used): every
build runs its model.onnx through `run()` and compares with the PyTorch golden
outputs.  Only the operators/attributes that appear in our exports are
implemented; anything else raises NotImplementedError.

Usage: python3 models/onnx_ref.py MODEL_DIR    (compares with golden/*.npy)
"""
import json
import os
import sys

import numpy as np

try:
    from scipy.special import erf as _erf
except Exception:  # pragma: no cover
    import math
    _erf = np.vectorize(math.erf)


def _attrs(node):
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _np_dtype(onnx_type):
    import onnx
    from onnx import mapping
    return mapping.TENSOR_TYPE_TO_NP_TYPE[onnx_type]


def _conv(x, w, b, a):
    group = a.get("group", 1)
    k = w.shape[2:]
    nd = len(k)
    strides = a.get("strides", [1] * nd)
    dil = a.get("dilations", [1] * nd)
    pads = a.get("pads", [0] * (2 * nd))
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("Conv auto_pad")
    assert nd == 2, "only 2-D Conv"
    x = np.pad(x, [(0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])])
    N, C, H, W = x.shape
    M = w.shape[0]
    kh, kw = k
    eh, ew = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1
    oh = (H - eh) // strides[0] + 1
    ow = (W - ew) // strides[1] + 1
    sN, sC, sH, sW = x.strides
    cols = np.lib.stride_tricks.as_strided(
        x, shape=(N, C, kh, kw, oh, ow),
        strides=(sN, sC, sH * dil[0], sW * dil[1], sH * strides[0], sW * strides[1]),
        writeable=False)
    cg, mg = C // group, M // group
    outs = []
    for g in range(group):
        cg_cols = cols[:, g * cg:(g + 1) * cg].reshape(N, cg * kh * kw, oh * ow)
        wg = w[g * mg:(g + 1) * mg].reshape(mg, cg * kh * kw)
        outs.append(np.matmul(wg, cg_cols))
    y = np.concatenate(outs, axis=1).reshape(N, M, oh, ow)
    if b is not None:
        y = y + b.reshape(1, M, 1, 1)
    return y.astype(x.dtype, copy=False)


def _maxpool(x, a):
    k = a["kernel_shape"]
    s = a.get("strides", [1, 1])
    p = a.get("pads", [0, 0, 0, 0])
    if a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1, 1])):
        raise NotImplementedError("MaxPool ceil_mode/dilations")
    x = np.pad(x, [(0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])], constant_values=-np.inf)
    N, C, H, W = x.shape
    oh = (H - k[0]) // s[0] + 1
    ow = (W - k[1]) // s[1] + 1
    sN, sC, sH, sW = x.strides
    win = np.lib.stride_tricks.as_strided(
        x, shape=(N, C, oh, ow, k[0], k[1]),
        strides=(sN, sC, sH * s[0], sW * s[1], sH, sW), writeable=False)
    return win.max(axis=(4, 5))


def _softmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def _slice(x, starts, ends, axes=None, steps=None):
    axes = list(range(len(starts))) if axes is None else [int(v) for v in axes]
    steps = [1] * len(starts) if steps is None else [int(v) for v in steps]
    sl = [slice(None)] * x.ndim
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax = ax % x.ndim
        dim = x.shape[ax]
        st, en = int(st), int(en)
        if st < 0:
            st += dim
        if en < 0:
            en += dim
        if sp > 0:
            st = min(max(st, 0), dim)
            en = min(max(en, 0), dim)
            sl[ax] = slice(st, en, sp)
        else:
            st = min(max(st, -1), dim - 1)
            en = min(max(en, -1), dim - 1)
            sl[ax] = slice(st, None if en < 0 else en, sp) if st >= 0 else slice(0, 0)
    return x[tuple(sl)]


def _pad(x, pads, value, mode):
    if mode not in (b"constant", "constant"):
        raise NotImplementedError("Pad mode %r" % mode)
    nd = x.ndim
    pads = [int(v) for v in pads]
    if any(v < 0 for v in pads):
        raise NotImplementedError("negative pads")
    return np.pad(x, [(pads[i], pads[i + nd]) for i in range(nd)],
                  constant_values=0 if value is None else value.item())


def _reshape(x, shape, allowzero=0):
    shape = [int(v) for v in shape]
    if not allowzero:
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return x.reshape(shape)


def _layernorm(x, scale, bias, a):
    axis = a.get("axis", -1) % x.ndim
    eps = a.get("epsilon", 1e-5)
    axes = tuple(range(axis, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps) * scale
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype, copy=False)


def _gemm(A, B, C, a):
    if a.get("transA", 0):
        A = A.T
    if a.get("transB", 0):
        B = B.T
    y = a.get("alpha", 1.0) * (A @ B)
    if C is not None:
        y = y + a.get("beta", 1.0) * C
    return y.astype(A.dtype, copy=False)


def _batchnorm(x, s, b, mean, var, a):
    if a.get("training_mode", 0):
        raise NotImplementedError("BatchNormalization training_mode=1")
    eps = a.get("epsilon", 1e-5)
    sh = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + eps) * s.reshape(sh) + b.reshape(sh)
    return y.astype(x.dtype, copy=False)


def _einsum(eq, *xs):
    return np.einsum(eq, *xs, optimize=True)


def _reduce_mean(x, a, axes_in=None):
    axes = a.get("axes", axes_in)
    keep = a.get("keepdims", 1)
    axes = None if axes is None else tuple(int(v) for v in axes)
    return x.mean(axis=axes, keepdims=bool(keep)).astype(x.dtype, copy=False)


def run_node(node, ins):
    op = node.op_type
    a = _attrs(node)
    x = ins[0] if ins else None
    if op == "Constant":
        import onnx.numpy_helper as nh
        if "value" in a:
            return [nh.to_array(a["value"])]
        if "value_float" in a:
            return [np.array(a["value_float"], dtype=np.float32)]
        if "value_int" in a:
            return [np.array(a["value_int"], dtype=np.int64)]
        if "value_ints" in a:
            return [np.array(a["value_ints"], dtype=np.int64)]
        raise NotImplementedError("Constant attr %s" % list(a))
    if op == "Identity":
        return [x]
    if op == "Conv":
        return [_conv(x, ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == "BatchNormalization":
        return [_batchnorm(*ins[:5], a)]
    if op == "Relu":
        return [np.maximum(x, 0).astype(x.dtype, copy=False)]
    if op == "MaxPool":
        return [_maxpool(x, a)]
    if op == "GlobalAveragePool":
        return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)]
    if op == "Flatten":
        ax = a.get("axis", 1) % x.ndim if x.ndim else 0
        return [x.reshape(int(np.prod(x.shape[:ax])), -1)]
    if op == "Gemm":
        return [_gemm(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == "MatMul":
        return [np.matmul(ins[0], ins[1])]
    if op in ("Add", "Sub", "Mul", "Div", "Pow"):
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
             "Div": np.divide, "Pow": np.power}[op]
        if op == "Div" and np.issubdtype(x.dtype, np.integer):
            return [(x // ins[1]).astype(x.dtype)]
        return [f(x, ins[1]).astype(x.dtype, copy=False)]
    if op == "Sqrt":
        return [np.sqrt(x)]
    if op == "Erf":
        return [_erf(x).astype(x.dtype, copy=False)]
    if op == "Softmax":
        return [_softmax(x, a.get("axis", -1))]
    if op == "LayerNormalization":
        return [_layernorm(x, ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == "ReduceMean":
        return [_reduce_mean(x, a, ins[1] if len(ins) > 1 else None)]
    if op == "Reshape":
        return [_reshape(x, ins[1], a.get("allowzero", 0))]
    if op == "Transpose":
        return [np.transpose(x, a.get("perm"))]
    if op == "Unsqueeze":
        axes = sorted(int(v) % (x.ndim + len(ins[1])) for v in ins[1])
        y = x
        for ax in axes:
            y = np.expand_dims(y, ax)
        return [y]
    if op == "Squeeze":
        axes = None if len(ins) < 2 or ins[1] is None else tuple(int(v) % x.ndim for v in ins[1])
        return [np.squeeze(x, axis=axes)]
    if op == "Concat":
        return [np.concatenate(ins, axis=a["axis"])]
    if op == "Split":
        axis = a.get("axis", 0) % x.ndim
        split = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("split")
        if split is None:
            return list(np.split(x, len(node.output), axis=axis))
        idx = np.cumsum([int(v) for v in split])[:-1]
        return list(np.split(x, idx, axis=axis))
    if op == "Slice":
        return [_slice(x, ins[1], ins[2], ins[3] if len(ins) > 3 else None,
                       ins[4] if len(ins) > 4 else None)]
    if op == "Gather":
        return [np.take(x, ins[1].astype(np.int64), axis=a.get("axis", 0))]
    if op == "Shape":
        return [np.array(x.shape, dtype=np.int64)]
    if op == "Cast":
        return [x.astype(_np_dtype(a["to"]))]
    if op == "ConstantOfShape":
        import onnx.numpy_helper as nh
        v = nh.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return [np.full([int(s) for s in x], v.reshape(-1)[0], dtype=v.dtype)]
    if op == "Pad":
        return [_pad(x, ins[1], ins[2] if len(ins) > 2 else None, a.get("mode", b"constant"))]
    if op == "Einsum":
        eq = a["equation"]
        eq = eq.decode() if isinstance(eq, bytes) else eq
        return [_einsum(eq, *ins).astype(x.dtype, copy=False)]
    if op == "Range":
        return [np.arange(ins[0], ins[1], ins[2]).astype(ins[0].dtype)]
    if op == "Expand":
        return [x * np.ones([int(s) for s in ins[1]], dtype=x.dtype)]
    raise NotImplementedError("onnx_ref: op %s" % op)


def run(path, feeds, dtype=None):
    """Run the ONNX model at `path` on numpy `feeds` {name: array}.
    dtype=np.float64 evaluates in double precision."""
    import onnx
    import onnx.numpy_helper as nh
    m = onnx.load(path)
    env = {}
    for init in m.graph.initializer:
        v = nh.to_array(init)
        if dtype is not None and v.dtype == np.float32:
            v = v.astype(dtype)
        env[init.name] = v
    for k, v in feeds.items():
        env[k] = v.astype(dtype) if dtype is not None and v.dtype == np.float32 else v
    # free intermediate values after their last use
    last_use = {}
    for i, n in enumerate(m.graph.node):
        for name in n.input:
            last_use[name] = i
    outputs = [o.name for o in m.graph.output]
    for i, n in enumerate(m.graph.node):
        ins = [env[name] if name else None for name in n.input]
        outs = run_node(n, ins)
        for name, v in zip(n.output, outs):
            if name:
                env[name] = v
        for name in n.input:
            if last_use.get(name) == i and name not in outputs and name not in feeds:
                env.pop(name, None)
    return {o: env[o] for o in outputs}


def main(argv):
    d = argv[1]
    with open(os.path.join(d, "info.json")) as fh:
        info = json.load(fh)
    x = np.load(os.path.join(d, "inputs", "input.npy"))
    res = run(os.path.join(d, "model.onnx"), {"input": x})
    for name in info["output_names"]:
        g = np.load(os.path.join(d, "golden", name + ".npy"))
        y = res[name]
        err = np.linalg.norm((y - g).astype(np.float64)) / np.linalg.norm(g.astype(np.float64))
        print("%s: shape %s rel L2 vs golden %.3e max abs %.3e"
              % (name, y.shape, err, np.abs(y - g).max()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
