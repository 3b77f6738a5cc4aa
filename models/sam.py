#!/usr/bin/env python3
"""Build the SAM ViT image-encoder models (sam_tiny, sam_vit_b, sam_vit_l,
sam_vit_h): random deterministic weights (models/sam_encoder.py), ONNX export
at opset 17 with static shapes and batch 1, golden input = one real photo
preprocessed SAM-style, golden output = PyTorch fp32 eval-mode output.

SAM preprocessing: longest side resized to img_size (bilinear, as SAM's
ResizeLongestSide, new size = int(side*scale + 0.5)), normalised with
pixel mean [123.675, 116.28, 103.53] / std [58.395, 57.12, 57.375] (0-255
scale), then zero-padded at the bottom/right to img_size x img_size.

Models whose weights exceed EXTERNAL_DATA_BYTES (vit_h) are saved with ONNX
external data: model.onnx + model.onnx.data (one file, location relative).

Usage: python3 models/sam.py NAME [--force] [--ref-check|--no-ref-check]
       python3 models/sam.py --describe NAME   (construct, count params, no export)
"""
import json
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import calib_images  # noqa: E402
import common  # noqa: E402

SEED = 0
PIXEL_MEAN = [123.675, 116.28, 103.53]
PIXEL_STD = [58.395, 57.12, 57.375]
GOLDEN_IMAGE = "coffee_00.png"   # eval set, whole original photo (600x400, non-square)
EXTERNAL_DATA_BYTES = int(os.environ.get("OCTET_EXTERNAL_DATA_BYTES", str(1800 * 1024 * 1024)))
SOURCES = ["common.py", "calib_images.py", "sam_encoder.py", "sam.py", "onnx_ref.py"]
REQUIRED = ["model.onnx", "inputs/input.npy", "golden/output.npy", "info.json"]
NAMES = {"sam_tiny": "tiny", "sam_tiny32": "tiny32", "sam_vit_b": "vit_b", "sam_vit_l": "vit_l",
         "sam_vit_h": "vit_h"}
# numpy ONNX reference check is on by default only where it is cheap
REF_CHECK_DEFAULT = {"tiny": True, "tiny32": True, "vit_b": False, "vit_l": False,
                     "vit_h": False}


def sam_preprocess(path, img_size):
    """(1, 3, img_size, img_size) float32 tensor, SAM-style."""
    import torch
    from PIL import Image
    im = Image.open(path).convert("RGB")
    w, h = im.size
    scale = img_size * 1.0 / max(h, w)
    newh, neww = int(h * scale + 0.5), int(w * scale + 0.5)
    im = im.resize((neww, newh), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(im, dtype=np.float32).copy()).permute(2, 0, 1)
    x = (x - torch.tensor(PIXEL_MEAN).view(3, 1, 1)) / torch.tensor(PIXEL_STD).view(3, 1, 1)
    x = torch.nn.functional.pad(x, (0, img_size - neww, 0, img_size - newh))
    return x.unsqueeze(0).contiguous(), {"orig_hw": [h, w], "resized_hw": [newh, neww]}


def param_bytes(model):
    return sum(p.numel() * p.element_size() for p in model.parameters())


def export(torch, model, x, path, external):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: shapes are static on purpose
        if not external:
            torch.onnx.export(model, x, path, opset_version=common.OPSET,
                              input_names=["input"], output_names=["output"],
                              do_constant_folding=True)
        else:
            import onnx
            tmp = tempfile.mkdtemp(prefix="octet_export_", dir=os.path.dirname(path))
            try:
                tmp_path = os.path.join(tmp, "model.onnx")
                torch.onnx.export(model, x, tmp_path, opset_version=common.OPSET,
                                  input_names=["input"], output_names=["output"],
                                  do_constant_folding=True)
                m = onnx.load(tmp_path)  # loads external tensors if torch wrote any
                onnx.save_model(m, path, save_as_external_data=True,
                                all_tensors_to_one_file=True,
                                location="model.onnx.data", size_threshold=1024)
                del m
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return round(time.perf_counter() - t0, 3)


def describe(name):
    import sam_encoder
    common.setup_torch(SEED)
    model, cfg = sam_encoder.make_model(NAMES[name] if name in NAMES else name, SEED)
    n = common.param_count(model)
    return {"name": name, "parameters": n, "param_bytes_fp32": param_bytes(model),
            "flops_per_sample": sam_encoder.analytic_flops(cfg),
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}}


def build(name, force=False, ref_check=None):
    import sam_encoder
    cfg_name = NAMES[name]
    d = common.model_dir(name)
    digest = common.sources_hash(SOURCES, extra=name)
    if not force and common.stamp_ok(d, digest, REQUIRED):
        common.log("%s: up to date (%s)" % (name, d))
        return
    if ref_check is None:
        ref_check = REF_CHECK_DEFAULT[cfg_name] or os.environ.get("OCTET_REF_CHECK") == "1"
    torch = common.setup_torch(SEED)
    t_start = time.perf_counter()
    model, cfg = sam_encoder.make_model(cfg_name, SEED)
    n_params = common.param_count(model)
    external = param_bytes(model) > EXTERNAL_DATA_BYTES

    evals = calib_images.list_images("eval")
    img_path = [p for p in evals if os.path.basename(p) == GOLDEN_IMAGE][0]
    x, pre_info = sam_preprocess(img_path, cfg["img_size"])

    # golden output (fp32, eval mode) and FLOP count from the same forward
    t0 = time.perf_counter()
    fc = common.FlopCounter()
    with torch.no_grad(), fc():
        y = model(x)
    t_fwd = time.perf_counter() - t0
    flops_analytic = sam_encoder.analytic_flops(cfg)
    assert fc.flops == flops_analytic, (fc.flops, flops_analytic)

    common.clear_dir(d)
    path = os.path.join(d, "model.onnx")
    t_export = export(torch, model, x, path, external)
    del model
    ops, ins, outs, opset = common.check_onnx(path)
    np.save(os.path.join(d, "inputs", "input.npy"), x.numpy())
    np.save(os.path.join(d, "golden", "output.npy"), y.numpy())

    err, t_ref = None, None
    if ref_check:
        import onnx_ref
        t0 = time.perf_counter()
        ref = onnx_ref.run(path, {"input": x.numpy()})["output"]
        t_ref = round(time.perf_counter() - t0, 3)
        err = common.rel_l2(ref, y.numpy())
        assert err < 1e-4, "numpy reference disagrees with torch: rel L2 %g" % err
        del ref

    files = {f: os.path.getsize(os.path.join(d, f)) for f in ("model.onnx", "model.onnx.data")
             if os.path.exists(os.path.join(d, f))}
    info = common.base_info(name, SEED)
    info.update({
        "source": "models/sam_encoder.py: SAM ImageEncoderViT architecture (%s config), "
                  "random deterministic init (torch.manual_seed(0); pos_embed/rel_pos "
                  "trunc_normal std 0.02; LayerNorm affine 1+0.1N / 0.02N); no pretrained "
                  "weights" % cfg_name,
        "generator": "models/sam.py",
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
        "parameters": n_params,
        "flops_per_sample": flops_analytic,
        "macs_per_sample": flops_analytic // 2,
        "flops_by_op_per_sample": {k: 2 * v for k, v in fc.by_op.items()},
        "flops_note": "2*MACs of conv, Linear, attention matmuls and rel-pos einsums "
                      "(softmax, norms, GELU, elementwise not counted); hook count == "
                      "analytic formula sam_encoder.analytic_flops",
        "export_batch": 1,
        "input_shape": list(x.shape),
        "output_shape": list(y.shape),
        "inputs": ins, "outputs": outs,
        "output_names": [o["name"] for o in outs],
        "onnx_opset": opset,
        "onnx_ops": ops,
        "export": {"do_constant_folding": True, "external_data": external,
                   "files_bytes": files},
        "preprocessing": {"style": "SAM", "pixel_mean": PIXEL_MEAN, "pixel_std": PIXEL_STD,
                          "resize": "longest side -> img_size, PIL bilinear",
                          "pad": "zeros bottom/right after normalisation", **pre_info},
        "golden_inputs": [common.rel_to_build(img_path)],
        "numpy_onnx_reference_rel_l2": err,
        "model_onnx_sha256": common.file_sha256(path),
        "timing_s": {"torch_forward_with_flop_hooks": round(t_fwd, 3), "export": t_export,
                     "numpy_reference_run": t_ref},
    })
    info["timing_s"]["total_build"] = round(time.perf_counter() - t_start, 3)
    common.write_info(d, info)
    common.write_stamp(d, digest)
    common.log("%s: params=%d flops=%.4g export %.1fs size=%s ref_rel_l2=%s"
               % (name, n_params, flops_analytic, t_export, files, err))


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if "--describe" in argv:
        for n in args:
            print(json.dumps(describe(n)))
        return 0
    ref = True if "--ref-check" in argv else (False if "--no-ref-check" in argv else None)
    for n in args:
        if n not in NAMES:
            raise SystemExit("unknown SAM model %s (choose from %s)" % (n, ", ".join(NAMES)))
        build(n, force="--force" in argv, ref_check=ref)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
