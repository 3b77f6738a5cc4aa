"""Shared helpers for the Octet model zoo (build directory layout, stamps,
FLOP counting, ONNX export checks, info.json writing).

Every generator script in models/ imports this module; its source is part of
every model's stamp hash, so editing it invalidates all cached builds.
"""
import contextlib
import hashlib
import json
import os
import platform
import sys
import time

import numpy as np

MODELS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(MODELS_DIR)
OPSET = 17


def build_dir():
    """${OCTET_BUILD_DIR:-<repo>/build}, made absolute (relative to the cwd)."""
    d = os.environ.get("OCTET_BUILD_DIR")
    if not d:
        return os.path.join(REPO_ROOT, "build")
    return os.path.abspath(d)


def model_dir(name):
    return os.path.join(build_dir(), "models", name)


def data_dir(*parts):
    return os.path.join(build_dir(), "data", *parts)


def rel_to_build(path):
    return os.path.relpath(path, build_dir())


# ----------------------------------------------------------------------------
# Stamps: skip work when outputs exist and the generating sources are unchanged
# ----------------------------------------------------------------------------

def sources_hash(files, extra=""):
    """sha256 over the given source files (paths relative to models/), plus
    the torch/onnx versions and an extra string (e.g. the config)."""
    import onnx
    import torch

    h = hashlib.sha256()
    for f in sorted(set(files)):
        p = os.path.join(MODELS_DIR, f)
        h.update(f.encode() + b"\0")
        with open(p, "rb") as fh:
            h.update(fh.read())
        h.update(b"\0")
    h.update(("torch=%s onnx=%s numpy=%s extra=%s" % (
        torch.__version__, onnx.__version__, np.__version__, extra)).encode())
    return h.hexdigest()


def stamp_ok(out_dir, digest, required):
    p = os.path.join(out_dir, "stamp")
    if not os.path.isfile(p):
        return False
    with open(p) as fh:
        if fh.read().strip() != digest:
            return False
    return all(os.path.exists(os.path.join(out_dir, r)) for r in required)


def write_stamp(out_dir, digest):
    with open(os.path.join(out_dir, "stamp"), "w") as fh:
        fh.write(digest + "\n")


def clear_dir(out_dir):
    """Remove the generated files of a model directory (never anything else)."""
    import shutil
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(os.path.join(out_dir, "inputs"))
    os.makedirs(os.path.join(out_dir, "golden"))


# ----------------------------------------------------------------------------
# Torch setup
# ----------------------------------------------------------------------------

def setup_torch(seed=0):
    import torch
    threads = int(os.environ.get("OCTET_TORCH_THREADS", "2"))
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    try:
        torch.use_deterministic_algorithms(True)
    except Exception:  # pragma: no cover
        pass
    return torch


# ----------------------------------------------------------------------------
# FLOP counting (MACs * 2 for conv / linear / matmul / bmm / einsum)
# ----------------------------------------------------------------------------

class FlopCounter:
    """Counts multiply-accumulates of every aten matmul-like op executed
    inside the context (uses __torch_dispatch__, so einsum/matmul/linear are
    seen after decomposition into mm/bmm/addmm).  flops = 2 * macs.
    Elementwise ops, softmax, norms and pooling are NOT counted."""

    def __init__(self):
        self.macs = 0
        self.by_op = {}

    def _add(self, name, macs):
        self.macs += int(macs)
        self.by_op[name] = self.by_op.get(name, 0) + int(macs)

    @contextlib.contextmanager
    def __call__(self):
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        aten = torch.ops.aten
        counter = self

        def prod(xs):
            r = 1
            for x in xs:
                r *= int(x)
            return r

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                pkt = func.overloadpacket
                if pkt is aten.mm:
                    a, b = args[0], args[1]
                    counter._add("mm", a.shape[0] * a.shape[1] * b.shape[1])
                elif pkt is aten.addmm:
                    a, b = args[1], args[2]
                    counter._add("addmm", a.shape[0] * a.shape[1] * b.shape[1])
                elif pkt is aten.bmm:
                    a, b = args[0], args[1]
                    counter._add("bmm", a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2])
                elif pkt is aten.baddbmm:
                    a, b = args[1], args[2]
                    counter._add("baddbmm", a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2])
                elif pkt is aten.convolution:
                    w = args[1]
                    # out: N, Cout, *spatial ; w: Cout, Cin/groups, *k (groups included)
                    counter._add("conv", prod(out.shape) * prod(w.shape[1:]))
                return out

        with Mode():
            yield self

    @property
    def flops(self):
        return 2 * self.macs


def count_flops(model, example):
    """FLOPs (2*MACs) of one forward of `model` on `example` (whole batch)."""
    import torch
    fc = FlopCounter()
    with torch.no_grad(), fc():
        model(example)
    return fc.flops, dict(fc.by_op)


def param_count(model):
    return int(sum(p.numel() for p in model.parameters()))


# ----------------------------------------------------------------------------
# ONNX helpers
# ----------------------------------------------------------------------------

def onnx_op_histogram(model_proto):
    hist = {}
    for n in model_proto.graph.node:
        hist[n.op_type] = hist.get(n.op_type, 0) + 1
    return dict(sorted(hist.items()))


def value_info_shape(vi):
    dims = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append("?")
    return dims


def io_description(model_proto):
    import onnx
    inits = {i.name for i in model_proto.graph.initializer}

    def desc(vi):
        return {"name": vi.name,
                "dtype": onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type).lower(),
                "shape": value_info_shape(vi)}
    return ([desc(v) for v in model_proto.graph.input if v.name not in inits],
            [desc(v) for v in model_proto.graph.output])


def check_onnx(path):
    """onnx.checker (by path, so >2 GB models with external data work) and
    return (op histogram, inputs, outputs, opset) of the model."""
    import onnx
    onnx.checker.check_model(path)
    m = onnx.load(path, load_external_data=False)
    opset = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0]
    ins, outs = io_description(m)
    return onnx_op_histogram(m), ins, outs, opset


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rel_l2(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


@contextlib.contextmanager
def timer(store, key):
    t0 = time.perf_counter()
    yield
    store[key] = round(time.perf_counter() - t0, 3)


def base_info(name, seed):
    import onnx
    import torch
    return {
        "name": name,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "export_opset": OPSET,
        "seed": seed,
        "torch_threads": torch.get_num_threads(),
        "blas": loaded_blas(),
    }


def loaded_blas():
    """Path of the BLAS shared library mapped into this process (torch's
    Linear/MatMul use it; Debian's reference BLAS is very slow)."""
    try:
        with open("/proc/self/maps") as fh:
            libs = sorted({l.split()[-1] for l in fh
                           if "blas" in os.path.basename(l.split()[-1])
                           and "cpython" not in l.split()[-1]})
        return [os.path.realpath(p) for p in libs]
    except OSError:
        return []


def write_info(out_dir, info):
    with open(os.path.join(out_dir, "info.json"), "w") as fh:
        json.dump(info, fh, indent=2, sort_keys=False)
        fh.write("\n")


def log(*a):
    print("[models]", *a, file=sys.stderr, flush=True)
