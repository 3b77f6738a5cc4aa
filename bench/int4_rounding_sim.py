#!/usr/bin/env python3
"""4-bit weight rounding methods on a SAM encoder, simulated in PyTorch fp32 on
the GPU (fake-quantized weights, u4 asymmetric groups of 128 along K, as Octet's
int4-weight-only rounds them): round to nearest, bias correction (what Octet
does with --calib), GPTQ, GPTQ + bias correction. Prints each one's cosine
against the fp32 output on the input bench/torch_cuda_peer.py measures
(randn, seed 1), calibrated on N other images (seed 2).

    bench/int4_rounding_sim.py vit_h 4     (CONFIG [N]; docs/quantization.md)
"""
import sys, time, os, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import sam_encoder
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
name = sys.argv[1]; ncal = int(sys.argv[2]) if len(sys.argv) > 2 else 4
G = 128
dev = torch.device("cuda")
model, cfg = sam_encoder.make_model(name)
model = model.to(dev).eval()
size = sam_encoder.CONFIGS[name].get("img_size", 1024) if isinstance(sam_encoder.CONFIGS[name], dict) else 1024
x_eval = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1)).to(dev)
x_cal = torch.randn(ncal, 3, size, size, generator=torch.Generator().manual_seed(2)).to(dev)
lins = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
orig = {n: m.weight.detach().clone() for n, m in lins}
origb = {n: (m.bias.detach().clone() if m.bias is not None else None) for n, m in lins}

def quant_group(w, G):  # w (N, K) -> fake-quant, asymmetric u4 per group along K, like Octet
    N, K = w.shape
    wg = w.reshape(N, K // G, G)
    lo = wg.amin(-1, keepdim=True).clamp(max=0); hi = wg.amax(-1, keepdim=True).clamp(min=0)
    s = ((hi - lo) / 15).clamp(min=1e-12); zp = torch.round(-lo / s).clamp(0, 15)
    q = (torch.round(wg / s) + zp).clamp(0, 15)
    return ((q - zp) * s).reshape(N, K)

def params(wcols):  # (N, G) -> scale, zp
    lo = wcols.amin(1).clamp(max=0); hi = wcols.amax(1).clamp(min=0)
    s = ((hi - lo) / 15).clamp(min=1e-12); zp = torch.round(-lo / s).clamp(0, 15)
    return s, zp

def run(x):
    with torch.no_grad():
        return torch.cat([model(x[i:i+1]) for i in range(x.shape[0])]).float()

def cosine(a, b):
    return torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()

def restore():
    with torch.no_grad():
        for n, m in lins:
            m.weight.copy_(orig[n])
            if m.bias is not None: m.bias.copy_(origb[n])

ref = run(x_eval)
# Statistics: X^T X and sum x per Linear input, from the fp32 model.
H = {}; S = {}; cnt = {}
def hook(n):
    def f(m, inp, out):
        x = inp[0].reshape(-1, inp[0].shape[-1]).double()
        H[n] = H.get(n, 0) + (x.T @ x).float(); S[n] = S.get(n, 0) + x.sum(0).float()
        cnt[n] = cnt.get(n, 0) + x.shape[0]
    return f
hs = [m.register_forward_hook(hook(n)) for n, m in lins]
t = time.time(); run(x_cal); torch.cuda.synchronize(); print("stats %.1f s" % (time.time() - t))
for h in hs: h.remove()

def apply(fn, label):
    restore()
    t = time.time()
    with torch.no_grad():
        for n, m in lins:
            m.weight.copy_(fn(n, m))
    y = run(x_eval)
    print("%-28s cosine %.6f  (%.1f s)" % (label, cosine(y, ref), time.time() - t), flush=True)

def rtn(n, m): return quant_group(m.weight.float(), G)
apply(rtn, "RTN g%d" % G)

def biascorr(n, m):
    wq = quant_group(m.weight.float(), G)
    if m.bias is not None:
        mean = S[n] / cnt[n]
        m.bias.sub_((wq - m.weight) @ mean)
    return wq
apply(biascorr, "RTN + bias correction")

def gptq(n, m, damp=0.01, block=128):
    W = m.weight.detach().clone().float(); N, K = W.shape
    Hm = H[n].clone() / cnt[n]
    dead = torch.diag(Hm) == 0; Hm[dead, dead] = 1; W[:, dead] = 0
    Hm += damp * torch.mean(torch.diag(Hm)) * torch.eye(K, device=dev)
    L = torch.linalg.cholesky(Hm); Hinv = torch.cholesky_inverse(L)
    Hinv = torch.linalg.cholesky(Hinv, upper=True)
    Q = torch.zeros_like(W)
    for i1 in range(0, K, block):
        i2 = min(i1 + block, K); W1 = W[:, i1:i2].clone(); Q1 = torch.zeros_like(W1)
        E1 = torch.zeros_like(W1); Hi = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            if (i1 + i) % G == 0: s, zp = params(W1[:, i:i + G] if i + G <= W1.shape[1] else W[:, i1+i:i1+i+G])
            w = W1[:, i]; d = Hi[i, i]
            q = ((torch.round(w / s) + zp).clamp(0, 15) - zp) * s
            Q1[:, i] = q; e = (w - q) / d
            W1[:, i:] -= e.unsqueeze(1) @ Hi[i, i:].unsqueeze(0); E1[:, i] = e
        Q[:, i1:i2] = Q1
        W[:, i2:] -= E1 @ Hinv[i1:i2, i2:]
    return Q
apply(gptq, "GPTQ damp 0.01")
def gptq_bc(n, m):
    q = gptq(n, m)
    if m.bias is not None: m.bias.sub_((q - m.weight) @ (S[n] / cnt[n]))
    return q
apply(gptq_bc, "GPTQ + bias correction")
