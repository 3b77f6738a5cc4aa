#!/usr/bin/env python3
"""Export a SAM ViT image encoder (models/sam_encoder.py, deterministic random
weights) to ONNX for benchmarks on machines without the model zoo's Debian
packages (the GPU machine): PyTorch only, TorchScript exporter, opset 17,
static batch 1, input "input" [1, 3, 1024, 1024], output "output".

    bench/export_sam.py NAME OUT.onnx        (NAME: tiny, vit_b, vit_l, vit_h)

The same architecture and seed as models/sam.py; the weights match when the
PyTorch versions draw the same random numbers. Speed does not depend on them.
"""
import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    import torch
    import sam_encoder
    name, out = argv[1], argv[2]
    model, cfg = sam_encoder.make_model(name)
    size = cfg["img_size"] if isinstance(cfg, dict) and "img_size" in cfg else \
        sam_encoder.CONFIGS[name]["img_size"]
    x = torch.zeros(1, 3, size, size)
    kwargs = dict(opset_version=17, input_names=["input"], output_names=["output"],
                  do_constant_folding=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, x, out, dynamo=False, **kwargs)
        except TypeError:  # PyTorch before the dynamo exporter
            torch.onnx.export(model, x, out, **kwargs)
    print("wrote %s (%d bytes)" % (out, os.path.getsize(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
