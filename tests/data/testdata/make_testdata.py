#!/usr/bin/env python3
"""Regenerates the tiny images and PIL/torchvision goldens of tests/data.

Run once with Debian's python (python3-pil, python3-torchvision):
    /usr/bin/python3 tests/data/testdata/make_testdata.py
Outputs are committed; the tests never run Python.
"""
import io
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.RandomState(7)

# 20 wide x 13 high RGB noise: downscaling it exercises the antialias path.
rgb = rng.randint(0, 256, size=(13, 20, 3), dtype=np.uint8)
Image.fromarray(rgb, "RGB").save(os.path.join(HERE, "noise_20x13.png"))

# 4x4 grey ramp with known pixels 0, 16, ..., 240 (row-major).
gray = (np.arange(16, dtype=np.uint8) * 16).reshape(4, 4)
Image.fromarray(gray, "L").save(os.path.join(HERE, "ramp_4x4.png"))

# A small smooth JPEG (12 wide x 16 high) and the pixels PIL decodes from it.
yy, xx = np.mgrid[0:16, 0:12]
smooth = np.stack([xx * 20, yy * 15, 128 + 0 * xx], axis=-1).astype(np.uint8)
Image.fromarray(smooth, "RGB").save(os.path.join(HERE, "smooth_12x16.jpg"), quality=95)
np.save(os.path.join(HERE, "smooth_12x16_pil.npy"),
        np.asarray(Image.open(os.path.join(HERE, "smooth_12x16.jpg")).convert("RGB")))

# A JPEG cut after its first 60 bytes: corrupt on purpose.
buf = io.BytesIO()
Image.fromarray(smooth, "RGB").save(buf, format="JPEG", quality=95)
with open(os.path.join(HERE, "corrupt.jpg"), "wb") as fh:
    fh.write(buf.getvalue()[:60])

# torchvision goldens for noise_20x13.png.
import torch  # noqa: E402
import torchvision.transforms as T  # noqa: E402

im = Image.open(os.path.join(HERE, "noise_20x13.png")).convert("RGB")
tf = T.Compose([T.Resize(8, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(5),
                T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
np.save(os.path.join(HERE, "noise_imagenet_r8_c5.npy"), tf(im).numpy())

# segment-anything style (models/sam.py): longest side -> 16, normalise, pad.
w, h = im.size
scale = 16 * 1.0 / max(h, w)
newh, neww = int(h * scale + 0.5), int(w * scale + 0.5)
x = torch.from_numpy(np.asarray(im.resize((neww, newh), Image.BILINEAR),
                                dtype=np.float32).copy()).permute(2, 0, 1)
mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
x = torch.nn.functional.pad((x - mean) / std, (0, 16 - neww, 0, 16 - newh))
np.save(os.path.join(HERE, "noise_sam16.npy"), x.numpy())

# Upscaling (no antialias difference) to 26x40 with PIL, for the resampler.
np.save(os.path.join(HERE, "noise_pil_40x26.npy"),
        np.asarray(im.resize((40, 26), Image.BILINEAR)))
