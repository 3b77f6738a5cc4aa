#!/usr/bin/env python3
"""The PyTorch side of bench/models_cuda.sh, on the GPU machine: one model
with seeded random weights (a SAM ViT image encoder from
models/sam_encoder.py: tiny, vit_b, vit_l, vit_h; or torchvision's resnet18
as models/resnet18.py makes it), exported to ONNX for Octet and timed in
PyTorch bf16 (eager and torch.compile; resnet18 channels-last) on the same
weights and input.

    bench/torch_cuda_peer.py CONFIG BATCH OUT_DIR [--warmup N] [--iterations N] [--no-compile]
                             [--calib N]

Writes into OUT_DIR: model.onnx (TorchScript exporter, opset 17, static batch
BATCH; weights in model.onnx.data when over 2 GB), input.npy (seeded normal
input), ref_fp32.npy (the fp32 output on the GPU with TF32 off: the fidelity
reference) and torch.json (median ms per batch of bf16 eager and compiled,
and the cosine of each bf16 output with the fp32 one), and with --calib N,
calib/ (N samples, one .npy file each, of the same distribution as
input.npy but another seed: calibration data, held out from the input the
fidelity is measured on). Prints torch.json.
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import sam_encoder  # noqa: E402


def make(config):
    """(model, input height and width, channels_last for bf16)."""
    if config == "resnet18":
        import resnet18
        return resnet18.make_model(torch), 224, True
    model, cfg = sam_encoder.make_model(config)
    return model, cfg["img_size"], False


def cuda_ms(fn, x, warmup, iterations):
    """Median milliseconds of fn(x) with CUDA events, after warmup runs."""
    for _ in range(warmup):
        fn(x)
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(x)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times))


def cosine(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    return float((a @ b) / (a.norm() * b.norm()))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("config")
    p.add_argument("batch", type=int)
    p.add_argument("out")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--calib", type=int, default=0, help="calibration samples to write")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    model, size, channels_last = make(a.config)
    model.eval()
    x = torch.randn(a.batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    np.save(os.path.join(a.out, "input.npy"), x.numpy())
    if a.calib > 0:
        calib_dir = os.path.join(a.out, "calib")
        os.makedirs(calib_dir, exist_ok=True)
        c = torch.randn(a.calib, 3, size, size, generator=torch.Generator().manual_seed(2))
        for i in range(a.calib):
            np.save(os.path.join(calib_dir, "%03d.npy" % i), c[i].numpy())

    onnx_path = os.path.join(a.out, "model.onnx")
    t0 = time.time()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        kwargs = dict(opset_version=17, input_names=["input"], output_names=["output"],
                      do_constant_folding=True)
        try:
            torch.onnx.export(model, x, onnx_path, dynamo=False, **kwargs)
        except TypeError:  # PyTorch before the dynamo exporter
            torch.onnx.export(model, x, onnx_path, **kwargs)
    print("exported %s in %.1f s" % (onnx_path, time.time() - t0), file=sys.stderr)

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    model = model.to(dev)
    xd = x.to(dev)
    with torch.no_grad():
        ref = model(xd).float()
    np.save(os.path.join(a.out, "ref_fp32.npy"), ref.cpu().numpy())

    result = {"config": a.config, "batch": a.batch, "device": torch.cuda.get_device_name(),
              "torch": torch.__version__}
    model16 = model.to(torch.bfloat16)
    x16 = xd.to(torch.bfloat16)
    if channels_last:
        model16 = model16.to(memory_format=torch.channels_last)
        x16 = x16.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        result["bf16_eager_ms"] = cuda_ms(model16, x16, a.warmup, a.iterations)
        result["bf16_eager_cosine"] = cosine(model16(x16).float(), ref)
        if not a.no_compile:
            t0 = time.time()
            compiled = torch.compile(model16)
            compiled(x16)
            result["compile_s"] = time.time() - t0
            result["bf16_compiled_ms"] = cuda_ms(compiled, x16, a.warmup, a.iterations)
            result["bf16_compiled_cosine"] = cosine(compiled(x16).float(), ref)
    with open(os.path.join(a.out, "torch.json"), "w") as f:
        json.dump(result, f)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
