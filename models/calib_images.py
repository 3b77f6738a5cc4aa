#!/usr/bin/env python3
"""Default calibration / evaluation images for Octet.

Source: the real photographs shipped by Debian's python3-skimage package
(skimage/data).  Synthetic images (color.png, logo.png, chessboards, phantom,
horse silhouette, palettes, ...) are not used.  The photographs are split into
two DISJOINT source sets:

  calib: astronaut, chelsea, rocket, motorcycle_left, hubble_deep_field, ihc,
         camera, grass, brick                                    (9 sources)
  eval:  coffee, retina, coins, gravel, moon, text, cell         (7 sources)

(motorcycle_right is not used: it is the stereo twin of motorcycle_left.)

Because there are so few photographs, `generate()` makes more samples by
deterministic (seeded) random crops and horizontal flips and saves them as
PNGs (RGB, 8 bit) under

    ${OCTET_BUILD_DIR:-build}/data/calib_images/<source>_<k>.png
    ${OCTET_BUILD_DIR:-build}/data/eval_images/<source>_<k>.png

Variant k=0 is always the whole original image (grey images converted to RGB,
longest side capped at 1024 px); k>0 are crops of 30-100 % of the area with
aspect ratio in [3/4, 4/3], flipped with probability 1/2.  NOTE: crops of one
source are strongly correlated; the calibration set has only 9 independent
photographs.  index.json in each folder records source, crop box and flip.

Usage:
    python3 models/calib_images.py generate   # (what `models/build.sh calib` runs)
    python3 models/calib_images.py list [calib|eval]
"""
import glob
import hashlib
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

CALIB_SOURCES = ["astronaut.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
                 "hubble_deep_field.jpg", "ihc.png", "camera.png", "grass.png",
                 "brick.png"]
EVAL_SOURCES = ["coffee.png", "retina.jpg", "coins.png", "gravel.png", "moon.png",
                "text.png", "cell.png"]
VARIANTS = {"calib": 8, "eval": 4}   # images per source (incl. the original)
SEEDS = {"calib": 1234, "eval": 4321}
MAX_SIDE = 1024
FORMAT_VERSION = 1


def skimage_data_dir():
    """Folder holding skimage's sample images (without importing skimage)."""
    import importlib.util
    spec = importlib.util.find_spec("skimage")
    cands = []
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            cands.append(os.path.join(loc, "data"))
    cands.append("/usr/lib/python3/dist-packages/skimage/data")
    for c in cands:
        if os.path.isfile(os.path.join(c, "astronaut.png")):
            return c
    try:  # Debian: ask dpkg
        out = subprocess.run(["dpkg", "-L", "python3-skimage"], capture_output=True,
                             text=True, check=True).stdout.split()
        for p in out:
            if p.endswith("/astronaut.png"):
                return os.path.dirname(p)
    except Exception:
        pass
    raise RuntimeError("skimage sample images not found: apt-get install python3-skimage")


def source_paths(kind):
    d = skimage_data_dir()
    names = CALIB_SOURCES if kind == "calib" else EVAL_SOURCES
    return [os.path.join(d, n) for n in names]


def out_dir(kind):
    return common.data_dir("%s_images" % kind)


def _load_rgb(path):
    from PIL import Image
    im = Image.open(path)
    im.load()
    return im.convert("RGB")


def _cap(im):
    from PIL import Image
    w, h = im.size
    s = max(w, h)
    if s <= MAX_SIDE:
        return im
    scale = MAX_SIDE / s
    return im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)


def _self_hash():
    with open(os.path.abspath(__file__), "rb") as fh:
        h = hashlib.sha256(fh.read())
    for p in source_paths("calib") + source_paths("eval"):
        with open(p, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def generate(kind, force=False):
    """Write <build>/data/<kind>_images/*.png + index.json; idempotent."""
    from PIL import Image
    d = out_dir(kind)
    stamp = os.path.join(d, "stamp")
    digest = _self_hash()
    if not force and os.path.isfile(stamp) and open(stamp).read().strip() == digest:
        return d
    os.makedirs(d, exist_ok=True)
    for f in glob.glob(os.path.join(d, "*.png")):
        os.remove(f)
    rng = np.random.RandomState(SEEDS[kind])
    index = []
    for src in source_paths(kind):
        base = os.path.splitext(os.path.basename(src))[0]
        im = _load_rgb(src)
        W, H = im.size
        for k in range(VARIANTS[kind]):
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
            out = _cap(out)
            fname = "%s_%02d.png" % (base, k)
            out.save(os.path.join(d, fname), format="PNG", optimize=False)
            index.append({"file": fname, "source": src, "crop_box_xyxy": list(box),
                          "hflip": flip, "size_wh": list(out.size)})
    with open(os.path.join(d, "index.json"), "w") as fh:
        json.dump({"kind": kind, "format_version": FORMAT_VERSION,
                   "note": "deterministic crops/flips of few source photos: samples "
                           "of one source are correlated",
                   "images": index}, fh, indent=1)
        fh.write("\n")
    with open(stamp, "w") as fh:
        fh.write(digest + "\n")
    common.log("wrote %d %s images to %s" % (len(index), kind, d))
    return d


def list_images(kind="calib", generate_if_missing=True):
    """Sorted list of the PNG paths of the calib or eval set."""
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
        for kind in ("calib", "eval"):
            generate(kind, force=force)
            print(out_dir(kind))
    elif cmd == "list":
        kinds = argv[2:] or ["calib"]
        for kind in kinds:
            for p in list_images(kind):
                print(p)
    elif cmd == "sources":
        for kind in ("calib", "eval"):
            for p in source_paths(kind):
                print(kind, p)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
