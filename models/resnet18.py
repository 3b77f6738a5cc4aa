#!/usr/bin/env python3
"""ResNet-18 (torchvision architecture, random init, seed 0) with realistic
BatchNorm statistics, exported three times at opset 17:

  resnet18/           BatchNormalization kept as separate (eval-mode) nodes
  resnet18_bnfolded/  BN folded into the Conv weights by the PyTorch exporter
  resnet18_dynbatch/  as resnet18 (same weights, BN kept) but with a symbolic
                      batch dimension "N" on input and output (dynamic_axes),
                      for benchmarks at any batch size (bench/)

resnet18 and resnet18_bnfolded have a static batch of 2 (the golden input's);
all three share the same golden input and output.

BN statistics: all BN layers are reset, momentum=None (cumulative average) and
the model is run in train mode (no grad) over the default calibration images
(models/calib_images.py), preprocessed ImageNet-style (resize 256, centre crop
224, mean/std normalisation).  In addition the BN affine parameters are
perturbed deterministically (gamma = 1 + 0.1*N(0,1), beta = 0.1*N(0,1)) so
that a wrong scale/bias handling is visible in the outputs (torchvision's
default init is gamma=1, beta=0).

Golden input: batch 2 of real images from the *eval* image set (disjoint from
calibration), chosen with a fixed seed.

Usage: python3 models/resnet18.py [--force]
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import calib_images  # noqa: E402
import common  # noqa: E402

SEED = 0
BATCH = 2
CALIB_BATCH = 8
GOLDEN_PICK_SEED = 7
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
SOURCES = ["common.py", "calib_images.py", "resnet18.py", "onnx_ref.py"]
REQUIRED = ["model.onnx", "inputs/input.npy", "golden/output.npy", "info.json"]


def preprocess(paths):
    import torch
    from PIL import Image
    import torchvision.transforms as T
    tf = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BILINEAR),
                    T.CenterCrop(224), T.ToTensor(), T.Normalize(MEAN, STD)])
    return torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])


def make_model(torch):
    import torchvision
    torch.manual_seed(SEED)
    model = torchvision.models.resnet18(weights=None)
    g = torch.Generator().manual_seed(SEED + 1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average
    return model


def calibrate_bn(torch, model, paths):
    model.train()
    with torch.no_grad():
        for i in range(0, len(paths), CALIB_BATCH):
            model(preprocess(paths[i:i + CALIB_BATCH]))
    model.eval()


DYNAMIC_AXES = {"input": {0: "N"}, "output": {0: "N"}}


def export(torch, model, x, path, keep_bn, dynamic_batch=False):
    t0 = time.perf_counter()
    if dynamic_batch:
        # Same as the keep_bn export below, plus a symbolic batch dimension.
        assert keep_bn, "the dynamic-batch export keeps BatchNormalization"
        torch.onnx.export(model, x, path, opset_version=common.OPSET,
                          input_names=["input"], output_names=["output"],
                          training=torch.onnx.TrainingMode.PRESERVE,
                          do_constant_folding=False, dynamic_axes=DYNAMIC_AXES)
    elif keep_bn:
        # PRESERVE + model.eval(): the exporter skips its eval-mode Conv+BN
        # fusion peephole and emits BatchNormalization(training_mode=0).
        torch.onnx.export(model, x, path, opset_version=common.OPSET,
                          input_names=["input"], output_names=["output"],
                          training=torch.onnx.TrainingMode.PRESERVE,
                          do_constant_folding=False)
    else:
        torch.onnx.export(model, x, path, opset_version=common.OPSET,
                          input_names=["input"], output_names=["output"],
                          training=torch.onnx.TrainingMode.EVAL,
                          do_constant_folding=True)
    return round(time.perf_counter() - t0, 3)


def verify_bn(path, keep_bn):
    import onnx
    m = onnx.load(path)
    bns = [n for n in m.graph.node if n.op_type == "BatchNormalization"]
    if not keep_bn:
        assert not bns, "bnfolded export still has BatchNormalization nodes"
        return {"batchnorm_nodes": 0}
    assert len(bns) == 20, "expected 20 BatchNormalization nodes, got %d" % len(bns)
    for n in bns:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        assert attrs.get("training_mode", 0) == 0, "BN exported in training mode"
        assert len(n.output) == 1, "BN has running-stat outputs (training mode)"
    return {"batchnorm_nodes": len(bns), "batchnorm_training_mode": 0}


def build(force=False):
    names = ["resnet18", "resnet18_bnfolded", "resnet18_dynbatch"]
    dirs = {n: common.model_dir(n) for n in names}
    digest = common.sources_hash(SOURCES)
    if not force and all(common.stamp_ok(dirs[n], digest, REQUIRED) for n in names):
        common.log("resnet18: up to date (%s)" % dirs["resnet18"])
        return
    torch = common.setup_torch(SEED)
    import onnx_ref
    t_start = time.perf_counter()
    calib = calib_images.list_images("calib")
    evals = calib_images.list_images("eval")
    model = make_model(torch)
    t0 = time.perf_counter()
    calibrate_bn(torch, model, calib)
    t_calib = time.perf_counter() - t0

    rng = np.random.RandomState(GOLDEN_PICK_SEED)
    pick = sorted(rng.choice(len(evals), size=BATCH, replace=False).tolist())
    golden_paths = [evals[i] for i in pick]
    x = preprocess(golden_paths).contiguous()
    with torch.no_grad():
        y = model(x)
    flops_batch, flops_by_op = common.count_flops(model, x)
    n_params = common.param_count(model)

    for name in names:
        keep_bn = name in ("resnet18", "resnet18_dynbatch")
        dynamic_batch = name == "resnet18_dynbatch"
        d = dirs[name]
        common.clear_dir(d)
        path = os.path.join(d, "model.onnx")
        t_export = export(torch, model, x, path, keep_bn, dynamic_batch)
        ops, ins, outs, opset = common.check_onnx(path)
        bn_info = verify_bn(path, keep_bn)
        np.save(os.path.join(d, "inputs", "input.npy"), x.numpy())
        np.save(os.path.join(d, "golden", "output.npy"), y.numpy())
        # independent check of the export: numpy ONNX interpreter vs torch
        t0 = time.perf_counter()
        ref = onnx_ref.run(path, {"input": x.numpy()})["output"]
        t_ref = time.perf_counter() - t0
        err = common.rel_l2(ref, y.numpy())
        assert err < 1e-4, "numpy reference disagrees with torch: rel L2 %g" % err
        info = common.base_info(name, SEED)
        info.update({
            "source": "torchvision.models.resnet18(weights=None), torch.manual_seed(0); "
                      "BN affine perturbed (gamma=1+0.1N, beta=0.1N, generator seed 1); "
                      "BN running stats = cumulative average over %d calib images "
                      "(train mode, momentum=None)" % len(calib),
            "generator": "models/resnet18.py",
            "parameters": n_params,
            "flops_per_sample": flops_batch // BATCH,
            "macs_per_sample": flops_batch // BATCH // 2,
            "flops_by_op_per_sample": {k: 2 * v // BATCH for k, v in flops_by_op.items()},
            "flops_note": "2*MACs of conv/linear only (elementwise, pooling, BN not counted)",
            "export_batch": BATCH,
            "input_shape": list(x.shape),
            "inputs": ins, "outputs": outs,
            "output_names": [o["name"] for o in outs],
            "onnx_opset": opset,
            "onnx_ops": ops,
            "export": {"training": "PRESERVE (model in eval mode)" if keep_bn else "EVAL",
                       "do_constant_folding": not keep_bn, **bn_info},
            "preprocessing": {"resize": 256, "center_crop": 224, "scale": "1/255",
                              "mean": MEAN, "std": STD, "layout": "NCHW RGB"},
            "golden_inputs": [common.rel_to_build(p) for p in golden_paths],
            "calibration_images": common.rel_to_build(os.path.dirname(calib[0])),
            "calibration_image_count": len(calib),
            "numpy_onnx_reference_rel_l2": err,
            "model_onnx_bytes": os.path.getsize(path),
            "model_onnx_sha256": common.file_sha256(path),
            "timing_s": {"bn_calibration": round(t_calib, 3), "export": t_export,
                         "numpy_reference_run": round(t_ref, 3)},
        })
        if dynamic_batch:
            info["export"]["dynamic_axes"] = DYNAMIC_AXES
        common.write_info(d, info)
        common.log("%s: ops=%s rel_l2(numpy ref vs torch)=%.3g export %.2fs"
                   % (name, ops, err, t_export))
    for name in names:
        info_path = os.path.join(dirs[name], "info.json")
        import json
        with open(info_path) as fh:
            info = json.load(fh)
        info["timing_s"]["total_build_all"] = round(time.perf_counter() - t_start, 3)
        common.write_info(dirs[name], info)
        common.write_stamp(dirs[name], digest)


if __name__ == "__main__":
    build(force="--force" in sys.argv)
