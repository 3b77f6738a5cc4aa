"""Peer of bench/cuda_attention_bench: PyTorch bf16 attention at the SAM image
encoder's shapes, with the decomposed relative position terms, measured on
the same GPU in the same run:

  eager   models/sam_encoder.py's Attention from the packed qkv to the merged
          heads (before proj): (q * scale) @ k^T, add_decomposed_rel_pos,
          softmax, @ v, in bf16 (what the unfused graph does)
  sdpa    the position terms as an additive mask ([B*H, N, N] bf16, built
          each call from the einsums) into F.scaled_dot_product_attention
          (PyTorch picks its memory-efficient kernel for a mask); the mask
          is built on every call, as the model would
  flash   F.scaled_dot_product_attention without the position terms (plain
          attention: the peer of cuda_attention_bench's "rel pos no" rows)

Median of 20 timed calls (CUDA events) after 3 warm-ups.
    python3 bench/sam_attention_torch.py
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from models.sam_encoder import add_decomposed_rel_pos, get_rel_pos  # noqa: E402

SHAPES = [  # model, block, images, batch (windows or images), heads, grid, d
    ("vit_b", "window", 1, 25, 12, 14, 64), ("vit_b", "global", 1, 1, 12, 64, 64),
    ("vit_b", "window", 8, 200, 12, 14, 64), ("vit_b", "global", 8, 8, 12, 64, 64),
    ("vit_h", "window", 1, 25, 16, 14, 80), ("vit_h", "global", 1, 1, 16, 64, 80),
    ("vit_h", "window", 8, 200, 16, 14, 80), ("vit_h", "global", 8, 8, 16, 64, 80),
]


def median_us(fn):
    for _ in range(3):
        fn()
    times = []
    for _ in range(20):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1e3)
    return sorted(times)[len(times) // 2]


def main():
    dev = torch.device("cuda")
    torch.manual_seed(0)
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    print("| model | block | images | batch x heads | tokens | d | eager us | sdpa+mask us | "
          "flash (no rel) us | eager TFLOP/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model, block, images, B, H, g, d in SHAPES:
        n = g * g
        qkv = torch.randn(B, n, 3, H, d, device=dev, dtype=torch.bfloat16)
        rel_pos_h = 0.1 * torch.randn(2 * g - 1, d, device=dev, dtype=torch.bfloat16)
        rel_pos_w = 0.1 * torch.randn(2 * g - 1, d, device=dev, dtype=torch.bfloat16)
        scale = d ** -0.5
        q, k, v = qkv.permute(2, 0, 3, 1, 4).reshape(3, B * H, n, d).unbind(0)
        # SDPA's fused kernels want [B, H, N, d]; on 3-d inputs it falls back
        # to its unfused math path.
        q4, k4, v4 = (t.view(B, H, n, d) for t in (q, k, v))

        def eager():
            attn = (q * scale) @ k.transpose(-2, -1)
            attn = add_decomposed_rel_pos(attn, q, rel_pos_h, rel_pos_w, (g, g), (g, g))
            attn = attn.softmax(dim=-1)
            return (attn @ v).view(B, H, g, g, d).permute(0, 2, 3, 1, 4).reshape(B, g, g, H * d)

        Rh, Rw = get_rel_pos(g, g, rel_pos_h), get_rel_pos(g, g, rel_pos_w)

        def sdpa():
            r_q = q.reshape(B * H, g, g, d)
            rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, Rh)
            rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, Rw)
            mask = (rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]).reshape(B, H, n, n)
            o = F.scaled_dot_product_attention(q4, k4, v4, attn_mask=mask)
            return o.view(B, H, g, g, d).permute(0, 2, 3, 1, 4).reshape(B, g, g, H * d)

        def flash():
            return F.scaled_dot_product_attention(q4, k4, v4)

        ref = eager().float()
        err = (sdpa().float() - ref).norm() / ref.norm()
        assert err < 2e-2, f"sdpa+mask disagrees with eager: {err}"
        t_eager, t_sdpa, t_flash = median_us(eager), median_us(sdpa), median_us(flash)
        flops = 4.0 * B * H * n * n * d
        print(f"| {model} | {block} | {images} | {B} x {H} | {n} | {d} | {t_eager:.1f} | "
              f"{t_sdpa:.1f} | {t_flash:.1f} | {flops / t_eager * 1e-6:.1f} |")
        del qkv, q, k, v, q4, k4, v4
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
