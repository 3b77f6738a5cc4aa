#!/usr/bin/env python3
"""fashion_resnet: a small ResNet trained (CPU, seeded) on Fashion-MNIST from
Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist).

Architecture (NCHW 1x28x28 input):
  stem   Conv3x3(1->16) BN ReLU                          28x28
  stage1 BasicBlock(16->16)                              28x28
  stage2 BasicBlock(16->32, stride 2, 1x1 conv+BN skip)  14x14
  stage3 BasicBlock(32->64, stride 2, 1x1 conv+BN skip)   7x7
  GlobalAveragePool, Linear(64->10)
BasicBlock = Conv3x3 BN ReLU Conv3x3 BN (+ skip) ReLU; convs without bias.

Normalisation: x/255, then (x - 0.2860) / 0.3530.
Export: opset 17, eval mode, BN kept as BatchNormalization nodes
(TrainingMode.PRESERVE, do_constant_folding=False), symbolic batch dim `N`.

Usage: python3 models/fashion_resnet.py [--force]
"""
import gzip
import os
import struct
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SEED = 0
MEAN, STD = 0.2860, 0.3530
EPOCHS = int(os.environ.get("OCTET_FASHION_EPOCHS", "3"))
BATCH = 128
LR = 0.05
N_GOLDEN = 64
N_REF_CHECK = 2000  # test images re-run through the numpy ONNX interpreter (batch 500)
SOURCES = ["common.py", "fashion_resnet.py", "onnx_ref.py"]
REQUIRED = ["model.onnx", "inputs/input.npy", "golden/output.npy",
            "golden/test_predictions.npy", "golden/test_labels.npy", "info.json"]
FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def dataset_dir():
    cands = [os.environ.get("OCTET_FASHION_MNIST_DIR", ""), "/usr/share/datasets/fashion-mnist"]
    for c in cands:
        if c and os.path.isdir(c):
            return c
    try:
        out = subprocess.run(["dpkg", "-L", "dataset-fashion-mnist"], capture_output=True,
                             text=True, check=True).stdout.split()
        for p in out:
            if "t10k-images-idx3-ubyte" in p:
                return os.path.dirname(p)
    except Exception:
        pass
    raise RuntimeError("Fashion-MNIST not found: apt-get install dataset-fashion-mnist")


def idx_path(key):
    d = dataset_dir()
    for ext in ("", ".gz"):
        p = os.path.join(d, FILES[key] + ext)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(os.path.join(d, FILES[key]))


def read_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as fh:
        data = fh.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, "unsigned byte IDX expected"
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def normalise(images_u8):
    x = images_u8.astype(np.float32)[:, None, :, :] / 255.0
    return ((x - MEAN) / STD).astype(np.float32)


def make_model(torch):
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return self.relu(y + idt)

    class FashionResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(16), nn.ReLU())
            self.layer1 = BasicBlock(16, 16, 1)
            self.layer2 = BasicBlock(16, 32, 2)
            self.layer3 = BasicBlock(32, 64, 2)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(self.stem(x))))
            return self.fc(torch.flatten(self.pool(x), 1))

    torch.manual_seed(SEED)
    return FashionResNet()


def predict(torch, model, x, bs=1000):
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), bs):
            outs.append(model(torch.from_numpy(x[i:i + bs])))
    return torch.cat(outs).numpy()


def train(torch, model, xtr, ytr):
    g = torch.Generator().manual_seed(SEED)
    xt = torch.from_numpy(xtr)
    yt = torch.from_numpy(ytr.astype(np.int64))
    steps = EPOCHS * ((len(xt) + BATCH - 1) // BATCH)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=5e-4,
                          nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps,
                                                pct_start=0.2)
    lossf = torch.nn.CrossEntropyLoss()
    model.train()
    hist = []
    for ep in range(EPOCHS):
        perm = torch.randperm(len(xt), generator=g)
        tot, n, t0 = 0.0, 0, time.perf_counter()
        for i in range(0, len(xt), BATCH):
            idx = perm[i:i + BATCH]
            xb, yb = xt[idx], yt[idx]
            # light augmentation: random horizontal flip (seeded)
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(idx)
            n += len(idx)
        hist.append({"epoch": ep + 1, "train_loss": round(tot / n, 5),
                     "seconds": round(time.perf_counter() - t0, 2)})
        common.log("fashion_resnet epoch %d loss %.4f (%.1fs)" % (ep + 1, tot / n,
                                                                  time.perf_counter() - t0))
    model.eval()
    return hist


def build(force=False):
    d = common.model_dir("fashion_resnet")
    digest = common.sources_hash(SOURCES, extra="epochs=%d" % EPOCHS)
    if not force and common.stamp_ok(d, digest, REQUIRED):
        common.log("fashion_resnet: up to date (%s)" % d)
        return
    torch = common.setup_torch(SEED)
    import onnx
    import onnx_ref
    t_start = time.perf_counter()
    paths = {k: idx_path(k) for k in FILES}
    xtr = normalise(read_idx(paths["train_images"]))
    ytr = read_idx(paths["train_labels"])
    xte = normalise(read_idx(paths["test_images"]))
    yte = read_idx(paths["test_labels"]).astype(np.int64)
    model = make_model(torch)
    t0 = time.perf_counter()
    hist = train(torch, model, xtr, ytr)
    t_train = time.perf_counter() - t0

    logits = predict(torch, model, xte)
    preds = logits.argmax(1).astype(np.int64)
    acc = float((preds == yte).mean())
    x = torch.from_numpy(xte[:N_GOLDEN].copy())
    with torch.no_grad():
        y = model(x)
    flops1, by_op = common.count_flops(model, x[:1])

    common.clear_dir(d)
    path = os.path.join(d, "model.onnx")
    t0 = time.perf_counter()
    torch.onnx.export(model, x, path, opset_version=common.OPSET,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False)
    t_export = round(time.perf_counter() - t0, 3)
    ops, ins, outs, opset = common.check_onnx(path)
    assert ins[0]["shape"] == ["N", 1, 28, 28], ins
    assert outs[0]["shape"] == ["N", 10], outs
    m = onnx.load(path)
    bns = [n for n in m.graph.node if n.op_type == "BatchNormalization"]
    assert len(bns) == 9 and all(len(n.output) == 1 for n in bns), "BN nodes missing"

    np.save(os.path.join(d, "inputs", "input.npy"), x.numpy())
    np.save(os.path.join(d, "golden", "output.npy"), y.numpy())
    np.save(os.path.join(d, "golden", "test_predictions.npy"), preds)
    np.save(os.path.join(d, "golden", "test_labels.npy"), yte)

    # numpy ONNX reference: golden batch + full test set with other batch sizes
    t0 = time.perf_counter()
    err = common.rel_l2(onnx_ref.run(path, {"input": x.numpy()})["output"], y.numpy())
    assert err < 1e-4, err
    # (a subset: with Debian's reference BLAS numpy needs ~1 min per 1000 images)
    ref_preds = np.concatenate([onnx_ref.run(path, {"input": xte[i:i + 500]})["output"].argmax(1)
                                for i in range(0, N_REF_CHECK, 500)])
    t_ref = round(time.perf_counter() - t0, 3)
    ref_agree = float((ref_preds == preds[:N_REF_CHECK]).mean())

    info = common.base_info("fashion_resnet", SEED)
    info.update({
        "source": "models/fashion_resnet.py, trained from scratch on Fashion-MNIST "
                  "(Debian dataset-fashion-mnist)",
        "generator": "models/fashion_resnet.py",
        "parameters": common.param_count(model),
        "flops_per_sample": flops1,
        "macs_per_sample": flops1 // 2,
        "flops_by_op_per_sample": {k: 2 * v for k, v in by_op.items()},
        "flops_note": "2*MACs of conv/linear only",
        "export_batch": "dynamic (N); traced with batch %d" % N_GOLDEN,
        "input_shape": ["N", 1, 28, 28],
        "golden_input_shape": list(x.shape),
        "inputs": ins, "outputs": outs,
        "output_names": [o["name"] for o in outs],
        "onnx_opset": opset,
        "onnx_ops": ops,
        "export": {"training": "PRESERVE (model in eval mode)", "do_constant_folding": False,
                   "batchnorm_nodes": len(bns), "dynamic_axes": {"input": {"0": "N"},
                                                                  "output": {"0": "N"}}},
        "normalisation": {"scale": "1/255", "mean": MEAN, "std": STD,
                          "formula": "(x/255 - 0.2860) / 0.3530", "layout": "NCHW 1x28x28"},
        "dataset": {k: v for k, v in paths.items()},
        "training": {"epochs": EPOCHS, "batch": BATCH, "optimizer": "SGD nesterov m=0.9 "
                     "wd=5e-4, OneCycleLR max_lr=%g" % LR, "augmentation": "random hflip",
                     "history": hist, "seconds": round(t_train, 2)},
        "fp32_test_accuracy": acc,
        "test_images": int(len(yte)),
        "golden": {"input.npy": "first %d test images, normalised" % N_GOLDEN,
                   "output.npy": "logits of those (%d x 10)" % N_GOLDEN,
                   "test_predictions.npy": "int64 argmax over all 10000 test images",
                   "test_labels.npy": "int64 ground-truth labels of the test set"},
        "numpy_onnx_reference_rel_l2": err,
        "numpy_onnx_reference_test_prediction_agreement": ref_agree,
        "numpy_onnx_reference_test_images": N_REF_CHECK,
        "model_onnx_sha256": common.file_sha256(path),
        "timing_s": {"train": round(t_train, 2), "export": t_export,
                     "numpy_reference_run": t_ref},
    })
    info["timing_s"]["total_build"] = round(time.perf_counter() - t_start, 3)
    common.write_info(d, info)
    common.write_stamp(d, digest)
    common.log("fashion_resnet: test acc %.4f, export %.2fs, ref agreement %.4f"
               % (acc, t_export, ref_agree))


if __name__ == "__main__":
    build(force="--force" in sys.argv)
