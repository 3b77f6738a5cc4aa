#!/usr/bin/env python3
"""Quantize an ONNX model with ONNX Runtime's tools: the baseline Octet's
quantizer is benchmarked against.

    ort_quantize.py MODEL.onnx OUT.onnx (--npy DIR | --images DIR [--preprocess SPEC])
                    [--max-samples N] [--per-tensor] [--no-preprocess-model]

Steps: onnxruntime.quantization.quant_pre_process (shape inference + basic
graph optimisation, e.g. BatchNorm folded into Conv), then quantize_static
with QDQ format, per-channel weights (unless --per-tensor), uint8 activations,
int8 weights and MinMax calibration. Prints one JSON line with what was done.

Calibration data:
  --npy DIR     *.npy files, each one batch for the model's (single) input, or
                *.npz files with one array per input name. Sorted by name.
  --images DIR  JPEG/PNG files, sorted by name, preprocessed by SPEC into
                [C,H,W] float32 and stacked into batches of the model's static
                batch size (1 when the batch dim is symbolic); a last partial
                batch is dropped. SPEC: "imagenet" (default; torchvision
                Resize(256) bilinear, CenterCrop(224), /255, ImageNet mean/std)
                optionally followed by overrides, or only overrides:
                "resize=256,crop=224,scale=1/255,mean=a:b:c,std=a:b:c"
                (resize = shorter side; mean/std one value or one per channel).

Memory: ONNX Runtime's MinMax calibrator keeps every intermediate output of
every batch until the end (its CalibMaxIntermediateOutputs option is not used:
in onnxruntime 1.32 it discards the batches instead of merging their ranges);
bound it with --max-samples.

Runs with ${OCTET_VENV:-<repo>/.venv}/bin/python (scripts/venv.sh); another
python without onnxruntime re-executes itself with that one.
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ort_run import fail, import_onnxruntime  # noqa: E402

IMAGENET = {"resize": 256, "crop": 224, "scale": 1 / 255.0,
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def parse_preprocess(spec):
    p = {"resize": 0, "crop": 0, "scale": 1 / 255.0, "mean": [0.0], "std": [1.0]}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        if item == "imagenet":
            p = dict(IMAGENET)
            continue
        key, sep, val = item.partition("=")
        if not sep or key not in p:
            fail("bad --preprocess item '%s' (keys: imagenet, resize, crop, scale, mean, std)"
                 % item)
        if key in ("resize", "crop"):
            p[key] = int(val)
        elif key == "scale":
            num, _, den = val.partition("/")
            p[key] = float(num) / float(den or 1)
        else:
            p[key] = [float(v) for v in val.split(":")]
    return p


def load_image(path, p):
    """torchvision-style: PIL bilinear resize of the shorter side, centre crop."""
    import numpy as np
    from PIL import Image
    im = Image.open(path).convert("RGB")
    if p["resize"]:
        w, h = im.size
        s = p["resize"]
        nw, nh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
        im = im.resize((nw, nh), Image.BILINEAR)
    if p["crop"]:
        w, h, c = im.size[0], im.size[1], p["crop"]
        if c > w or c > h:
            fail("%s: crop %d is larger than the resized image %dx%d" % (path, c, w, h))
        left, top = int(round((w - c) / 2.0)), int(round((h - c) / 2.0))
        im = im.crop((left, top, left + c, top + c))
    x = np.asarray(im, dtype=np.float32) * p["scale"]
    x = (x - np.array(p["mean"], np.float32)) / np.array(p["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def calibration_batches(args, model_inputs):
    """(number of batches, generator of {input name: array} feeds); files are
    read lazily so that hundreds of images are never all in memory."""
    import numpy as np
    names = [i.name for i in model_inputs]
    if args.npy:
        files = sorted(glob.glob(os.path.join(args.npy, "*.npy")) +
                       glob.glob(os.path.join(args.npy, "*.npz")))[:args.max_samples or None]
        if not files:
            fail("no .npy/.npz files in %s" % args.npy)
        if len(names) != 1 and any(f.endswith(".npy") for f in files):
            fail("the model has %d inputs %s; use .npz files" % (len(names), names))

        def npy_feeds():
            for f in files:
                if f.endswith(".npz"):
                    with np.load(f, allow_pickle=False) as z:
                        yield {n: z[n] for n in names}
                else:
                    yield {names[0]: np.load(f, allow_pickle=False)}
        return len(files), npy_feeds()
    if len(names) != 1:
        fail("--images needs a single-input model; this one has %s" % names)
    p = parse_preprocess(args.preprocess)
    exts = (".png", ".jpg", ".jpeg", ".bmp")
    files = sorted(f for f in glob.glob(os.path.join(args.images, "*"))
                   if f.lower().endswith(exts))[:args.max_samples or None]
    b = model_inputs[0].shape[0]
    b = b if isinstance(b, int) and b > 0 else 1
    n = len(files) // b
    if n == 0:
        fail("%d images in %s: fewer than one batch of %d" % (len(files), args.images, b))

    def image_feeds():
        for i in range(n):
            yield {names[0]: np.stack([load_image(f, p) for f in files[i * b:(i + 1) * b]])}
    return n, image_feeds()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("output")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--npy", metavar="DIR")
    src.add_argument("--images", metavar="DIR")
    ap.add_argument("--preprocess", default="imagenet")
    ap.add_argument("--max-samples", type=int, default=0, help="files to use (0: all)")
    ap.add_argument("--per-tensor", action="store_true", help="per-tensor weights")
    ap.add_argument("--no-preprocess-model", action="store_true",
                    help="skip quant_pre_process")
    args = ap.parse_args(argv)

    ort = import_onnxruntime()
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                          QuantFormat, QuantType, quant_pre_process,
                                          quantize_static)

    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if not args.no_preprocess_model:
            model = os.path.join(tmp, "preprocessed.onnx")
            try:
                quant_pre_process(args.model, model)
            except Exception as e:  # noqa: BLE001
                fail("quant_pre_process failed on %s: %s" % (args.model, e))
        try:
            sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            fail("onnxruntime could not load %s: %s" % (model, e))
        num_batches, feeds = calibration_batches(args, sess.get_inputs())
        del sess
        samples = 0

        class Reader(CalibrationDataReader):
            def get_next(self):
                nonlocal samples
                feed = next(feeds, None)
                if feed is not None:
                    samples += next(iter(feed.values())).shape[0]
                return feed

        t1 = time.time()
        try:
            quantize_static(model, args.output, Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=not args.per_tensor,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
        except Exception as e:  # noqa: BLE001
            fail("quantize_static failed on %s: %s" % (args.model, e))
    print(json.dumps({"model": args.model, "output": args.output,
                      "onnxruntime": ort.__version__, "format": "QDQ",
                      "per_channel": not args.per_tensor, "activations": "uint8",
                      "weights": "int8", "calibration": "MinMax",
                      "preprocessed_model": not args.no_preprocess_model,
                      "batches": num_batches, "samples": samples,
                      "calibration_data": args.npy or args.images,
                      "seconds": {"total": round(time.time() - t0, 2),
                                  "quantize": round(time.time() - t1, 2)}}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
