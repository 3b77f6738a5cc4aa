#!/usr/bin/env python3
"""Larger calibration / evaluation image sets for Octet: calib300 and eval100.

For calibrating on a few hundred real images (resnet18 on 100+ images, a
memory test on 300) and evaluating on a separate hundred. Same photographs
and same generation rules as models/calib_images.py (which makes the small
`calib` 72 / `eval` 28 sets; those are unchanged):

  calib300: the 9 calib source photographs x 36 = 324 images
  eval100:  the 7 eval source photographs x 15  = 105 images

Source sets stay DISJOINT (calib300 never sees an eval photograph). Variant
k=0 is the whole photograph (grey converted to RGB); k>0 are seeded random
crops of 30-100 % of the area with aspect ratio in [3/4, 4/3], flipped
horizontally with probability 1/2. Differences from calib_images.py:

  * own seeds (calib300: 2468, eval100: 8642), so the crops are not those of
    the small sets (the k=0 whole photographs are the same pictures);
  * the LONGEST SIDE IS CAPPED AT 512 px (the small sets: 1024) to keep the
    sets small on disk. The ImageNet-style models resize to 256 / crop 224
    and sam_tiny to 256, so nothing they see is lost; a 1024-input model
    (sam_vit_b) would see upscaled images.

NOTE: crops of one source are strongly correlated: 324 images, but only 9
independent photographs (105 / 7 for eval100).

Output (index.json records source, crop box, flip and saved size):

    ${OCTET_BUILD_DIR:-build}/data/calib300_images/<source>_<k>.png
    ${OCTET_BUILD_DIR:-build}/data/eval100_images/<source>_<k>.png

Kept in its own file so that the stamps of the models generated from
calib_images.py (resnet18, sam_*) do not change.

Usage:
    python3 models/calib300_images.py generate [--force]   # models/build.sh calib300
    python3 models/calib300_images.py list [calib300|eval100]
"""
import glob
import hashlib
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import calib_images  # noqa: E402
import common  # noqa: E402

SETS = {
    # kind: (sources, images per source incl. the original, seed, max side)
    "calib300": (calib_images.CALIB_SOURCES, 36, 2468, 512),
    "eval100": (calib_images.EVAL_SOURCES, 15, 8642, 512),
}
FORMAT_VERSION = 1


def source_paths(kind):
    d = calib_images.skimage_data_dir()
    return [os.path.join(d, n) for n in SETS[kind][0]]


def out_dir(kind):
    return common.data_dir("%s_images" % kind)


def _cap(im, max_side):
    from PIL import Image
    w, h = im.size
    s = max(w, h)
    if s <= max_side:
        return im
    scale = max_side / s
    return im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)


def _hash(kind):
    h = hashlib.sha256(repr(SETS[kind]).encode())
    for f in (os.path.abspath(__file__), calib_images.__file__):
        with open(f, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    for p in source_paths(kind):
        with open(p, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def generate(kind, force=False):
    """Write <build>/data/<kind>_images/*.png + index.json; idempotent."""
    from PIL import Image
    _, variants, seed, max_side = SETS[kind]
    d = out_dir(kind)
    stamp = os.path.join(d, "stamp")
    digest = _hash(kind)
    if not force and os.path.isfile(stamp) and open(stamp).read().strip() == digest:
        return d
    os.makedirs(d, exist_ok=True)
    for f in glob.glob(os.path.join(d, "*.png")):
        os.remove(f)
    rng = np.random.RandomState(seed)
    index = []
    for src in source_paths(kind):
        base = os.path.splitext(os.path.basename(src))[0]
        im = calib_images._load_rgb(src)
        W, H = im.size
        for k in range(variants):
            # The crop rule of calib_images.generate, unchanged.
            if k == 0:
                box, flip = (0, 0, W, H), False
            else:
                for _ in range(100):
                    area = rng.uniform(0.30, 1.0) * W * H
                    ar = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
                    cw = int(round(np.sqrt(area * ar)))
                    ch = int(round(np.sqrt(area / ar)))
                    if 32 <= cw <= W and 32 <= ch <= H:
                        break
                else:
                    cw, ch = W, H
                x0 = int(rng.randint(0, W - cw + 1))
                y0 = int(rng.randint(0, H - ch + 1))
                box, flip = (x0, y0, x0 + cw, y0 + ch), bool(rng.rand() < 0.5)
            out = im.crop(box)
            if flip:
                out = out.transpose(Image.FLIP_LEFT_RIGHT)
            out = _cap(out, max_side)
            fname = "%s_%02d.png" % (base, k)
            out.save(os.path.join(d, fname), format="PNG", optimize=False)
            index.append({"file": fname, "source": src, "crop_box_xyxy": list(box),
                          "hflip": flip, "size_wh": list(out.size)})
    with open(os.path.join(d, "index.json"), "w") as fh:
        json.dump({"kind": kind, "format_version": FORMAT_VERSION, "max_side": max_side,
                   "seed": seed,
                   "note": "deterministic crops/flips of few source photos: samples "
                           "of one source are correlated",
                   "images": index}, fh, indent=1)
        fh.write("\n")
    with open(stamp, "w") as fh:
        fh.write(digest + "\n")
    common.log("wrote %d %s images to %s" % (len(index), kind, d))
    return d


def list_images(kind="calib300", generate_if_missing=True):
    """Sorted list of the PNG paths of the calib300 or eval100 set."""
    d = out_dir(kind)
    if generate_if_missing:
        generate(kind)
    with open(os.path.join(d, "index.json")) as fh:
        idx = json.load(fh)
    return [os.path.join(d, e["file"]) for e in idx["images"]]


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "list"
    if cmd == "generate":
        force = "--force" in argv
        for kind in SETS:
            generate(kind, force=force)
            print(out_dir(kind))
    elif cmd == "list":
        for kind in argv[2:] or ["calib300"]:
            if kind not in SETS:
                print("unknown set '%s' (calib300, eval100)" % kind, file=sys.stderr)
                return 2
            for p in list_images(kind):
                print(p)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
