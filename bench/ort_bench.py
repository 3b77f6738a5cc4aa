#!/usr/bin/env python3
"""Time an ONNX model with ONNX Runtime (CPU execution provider): the peer
numbers that `octet bench` results are compared with.

    ort_bench.py MODEL.onnx [--batch N] [--threads T] [--warmup W]
                 [--iterations I] [--seed S] [--json OUT.json]

Inputs are seeded random data (float: uniform [-1, 1); integers: [0, 10);
bool: coin flips) of each input's declared shape with every symbolic
dimension set to --batch. Session: CPUExecutionProvider, graph optimisation
ORT_ENABLE_ALL, sequential execution, intra_op_num_threads = T (0: ONNX
Runtime's default, one per physical core), inter_op_num_threads = 1.

W untimed runs, then I timed runs of InferenceSession.run (feeds already
built; outputs are returned as numpy arrays, as any Python caller gets them).
Prints a summary on stderr and, on stdout, one JSON line with the schema of
`octet bench --json`:

    {"model", "engine": "onnxruntime <version> CPUExecutionProvider", "batch",
     "threads", "warmup", "iterations", "latency_ms": {"median", "p90", "p99",
     "mean", "min", "max"}, "throughput_per_s"}

(percentiles nearest-rank; throughput = batch * iterations / total timed
seconds), and writes it to --json when given.

Runs with the python that has onnxruntime: this one if it can import it,
else ${OCTET_VENV:-<repo>/.venv}/bin/python (scripts/venv.sh), re-executed.
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "scripts"))
from ort_run import fail, import_onnxruntime  # noqa: E402

EP = "CPUExecutionProvider"

# ONNX Runtime's type strings -> numpy dtype names.
DTYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16",
    "tensor(uint16)": "uint16", "tensor(int32)": "int32", "tensor(uint32)": "uint32",
    "tensor(int64)": "int64", "tensor(uint64)": "uint64", "tensor(bool)": "bool",
}


def percentile(sorted_ms, p):
    """Nearest-rank percentile, as octet bench computes it."""
    rank = int(math.ceil(p / 100.0 * len(sorted_ms)))
    return sorted_ms[min(len(sorted_ms) - 1, max(rank, 1) - 1)]


def random_inputs(np, sess, batch, seed):
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in sess.get_inputs():
        if i.type not in DTYPES:
            fail("input '%s' has type %s; only tensors of %s are supported"
                 % (i.name, i.type, ", ".join(sorted(DTYPES))))
        shape = [d if isinstance(d, int) and d >= 0 else batch for d in i.shape]
        dt = np.dtype(DTYPES[i.type])
        if dt.kind == "f":
            x = rng.uniform(-1.0, 1.0, size=shape).astype(dt)
        elif dt.kind == "b":
            x = rng.integers(0, 2, size=shape).astype(bool)
        else:
            x = rng.integers(0, 10, size=shape).astype(dt)
        feeds[i.name] = x
    return feeds


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=1, help="value of symbolic dims")
    ap.add_argument("--threads", type=int, default=0,
                    help="intra-op threads (0: ONNX Runtime's default)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    ap.add_argument("--iterations", type=int, default=20, help="timed runs")
    ap.add_argument("--seed", type=int, default=0, help="seed for the random inputs")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    if args.batch < 1 or args.iterations < 1 or args.warmup < 0 or args.threads < 0:
        fail("--batch and --iterations must be >= 1, --warmup and --threads >= 0")

    ort = import_onnxruntime()
    import numpy as np

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(args.model, sess_options=so, providers=[EP])
    except Exception as e:  # noqa: BLE001 (ORT raises several types)
        fail("onnxruntime could not load %s: %s" % (args.model, e))
    feeds = random_inputs(np, sess, args.batch, args.seed)

    try:
        for _ in range(args.warmup):
            sess.run(None, feeds)
        ms = []
        for _ in range(args.iterations):
            t0 = time.perf_counter()
            sess.run(None, feeds)
            ms.append((time.perf_counter() - t0) * 1000.0)
    except Exception as e:  # noqa: BLE001
        fail("onnxruntime failed to run %s: %s" % (args.model, e))

    total = sum(ms)
    ms.sort()
    engine = "onnxruntime %s %s" % (ort.__version__, sess.get_providers()[0])
    result = {
        "model": args.model, "engine": engine, "batch": args.batch,
        "threads": args.threads, "warmup": args.warmup, "iterations": args.iterations,
        "latency_ms": {"median": percentile(ms, 50), "p90": percentile(ms, 90),
                       "p99": percentile(ms, 99), "mean": total / len(ms),
                       "min": ms[0], "max": ms[-1]},
        "throughput_per_s": args.batch * len(ms) * 1000.0 / total if total > 0 else 0.0,
    }
    lat = result["latency_ms"]
    print("%s on %s, batch %d, threads %d, %d warm-up + %d timed runs\n"
          "latency ms: median %.3f  p90 %.3f  p99 %.3f  mean %.3f  min %.3f  max %.3f\n"
          "throughput: %.1f samples/s"
          % (args.model, engine, args.batch, args.threads, args.warmup, args.iterations,
             lat["median"], lat["p90"], lat["p99"], lat["mean"], lat["min"], lat["max"],
             result["throughput_per_s"]), file=sys.stderr)
    line = json.dumps(result)
    print(line)
    if args.json:
        try:
            with open(args.json, "w") as fh:
                fh.write(line + "\n")
        except OSError as e:
            fail("cannot write '%s': %s" % (args.json, e))
        print("wrote %s" % args.json, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
