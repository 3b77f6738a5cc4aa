#!/usr/bin/env python3
"""Run an ONNX model with ONNX Runtime (CPU execution provider): the peer
implementation Octet's outputs are compared with.

    ort_run.py MODEL.onnx --input NAME=FILE.npy [--input ...] -o OUT_DIR
               [--opt-level default|disable|basic|extended|all] [--threads N]

Writes OUT_DIR/<output name>.npy for every graph output (names sanitised to
[A-Za-z0-9._-], others become '_'; clashes get a numeric suffix) and prints one
JSON line on stdout:

    {"model": ..., "onnxruntime": "1.x", "opt_level": ..., "outputs":
     [{"name": "output", "file": "output.npy", "shape": [2, 1000], "dtype": "float32"}]}

NAME=FILE splits at the last '=', so input names may contain '='. Graph
optimisations run at ONNX Runtime's default level (all) unless --opt-level
says otherwise; `disable` runs the graph as written. Errors (a model ONNX
Runtime cannot load or run, a missing input, an unreadable .npy) print ONNX
Runtime's message on stderr and exit 1.

Runs with the venv python, ${OCTET_VENV:-<repo>/.venv}/bin/python (made by
scripts/venv.sh); started with another python that lacks onnxruntime, it
re-executes itself with the venv's.
"""
import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def venv_python():
    venv = os.environ.get("OCTET_VENV") or os.path.join(ROOT, ".venv")
    return os.path.join(venv, "bin", "python")


def import_onnxruntime():
    """onnxruntime, re-executing under the venv python if this one lacks it."""
    try:
        import onnxruntime
        return onnxruntime
    except ImportError as e:
        py = venv_python()
        if os.environ.get("OCTET_ORT_REEXEC") != "1" and os.access(py, os.X_OK):
            os.environ["OCTET_ORT_REEXEC"] = "1"
            os.execv(py, [py, os.path.abspath(sys.argv[0])] + sys.argv[1:])
        fail("cannot import onnxruntime (%s) with %s; create the venv with scripts/venv.sh"
             % (e, sys.executable))


def fail(msg):
    print("%s: %s" % (os.path.basename(sys.argv[0]), msg), file=sys.stderr)
    sys.exit(1)


def sanitise(name, used):
    base = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "output"
    cand, k = base, 1
    while cand.lower() in used:  # also unique on case-insensitive file systems
        cand = "%s_%d" % (base, k)
        k += 1
    used.add(cand.lower())
    return cand


OPT_LEVELS = ["default", "disable", "basic", "extended", "all"]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy")
    ap.add_argument("-o", "--output-dir", required=True)
    ap.add_argument("--opt-level", choices=OPT_LEVELS, default="default")
    ap.add_argument("--threads", type=int, default=0,
                    help="intra-op threads (0: ONNX Runtime's default)")
    args = ap.parse_args(argv)

    ort = import_onnxruntime()
    import numpy as np

    feeds = {}
    for spec in args.input:
        name, sep, path = spec.rpartition("=")
        if not sep or not name:
            fail("--input wants NAME=FILE.npy, got '%s'" % spec)
        try:
            feeds[name] = np.load(path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 (any reason the file is unusable)
            fail("cannot read input '%s' from %s: %s" % (name, path, e))

    so = ort.SessionOptions()
    if args.opt_level != "default":
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[args.opt_level]
    if args.threads > 0:
        so.intra_op_num_threads = args.threads
    try:
        sess = ort.InferenceSession(args.model, sess_options=so,
                                    providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 (ORT raises several types)
        fail("onnxruntime could not load %s: %s" % (args.model, e))

    declared = [i.name for i in sess.get_inputs()]
    missing = [n for n in declared if n not in feeds]
    unknown = [n for n in feeds if n not in declared]
    if missing or unknown:
        fail("inputs do not match %s: missing %s, unknown %s (the model's inputs: %s)"
             % (args.model, missing, unknown, declared))

    out_names = [o.name for o in sess.get_outputs()]
    try:
        results = sess.run(out_names, feeds)
    except Exception as e:  # noqa: BLE001
        fail("onnxruntime failed to run %s: %s" % (args.model, e))

    os.makedirs(args.output_dir, exist_ok=True)
    used, listed = set(), []
    for name, value in zip(out_names, results):
        if not isinstance(value, np.ndarray):
            fail("output '%s' is a %s, not a tensor; only tensor outputs are written"
                 % (name, type(value).__name__))
        fname = sanitise(name, used) + ".npy"
        np.save(os.path.join(args.output_dir, fname), np.ascontiguousarray(value))
        listed.append({"name": name, "file": fname, "shape": list(value.shape),
                       "dtype": str(value.dtype)})
    print(json.dumps({"model": args.model, "onnxruntime": ort.__version__,
                      "opt_level": args.opt_level, "outputs": listed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
