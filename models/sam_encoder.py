"""Segment Anything (SAM) ViT image encoder, written from the architecture
described in the SAM paper (Kirillov et al., 2023) and its ImageEncoderViT:

  * 16x16 patch embedding (Conv k=16 s=16), channels-last token grid
  * absolute position embedding of shape (1, H/16, W/16, C)
  * pre-norm transformer blocks (LayerNorm eps 1e-6) with
      - windowed attention (window 14; the token grid is zero-padded to a
        multiple of the window and unpadded afterwards), or
      - global attention in the listed block indices,
    multi-head attention with a qkv Linear (bias) and decomposed relative
    position embeddings (rel_pos_h, rel_pos_w) added to the logits,
    MLP ratio 4 with exact (erf) GELU
  * neck: Conv1x1 (no bias) -> LayerNorm2d -> Conv3x3 pad 1 (no bias)
    -> LayerNorm2d, out_chans 256

No pretrained weights are used: parameters are initialised deterministically
from a seed (see `init_weights`).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    # name: img_size, patch, embed_dim, depth, heads, global_attn_indexes, window, out_chans
    "vit_b": dict(img_size=1024, embed_dim=768, depth=12, num_heads=12,
                  global_attn_indexes=(2, 5, 8, 11)),
    "vit_l": dict(img_size=1024, embed_dim=1024, depth=24, num_heads=16,
                  global_attn_indexes=(5, 11, 17, 23)),
    "vit_h": dict(img_size=1024, embed_dim=1280, depth=32, num_heads=16,
                  global_attn_indexes=(7, 15, 23, 31)),
    # small variant for fast C++ reference-interpreter tests: 16x16 tokens, so
    # window 14 needs padding to 28x28 (2x2 windows) in the windowed blocks.
    "tiny": dict(img_size=256, embed_dim=96, depth=4, num_heads=4,
                 global_attn_indexes=(1, 3)),
    # head dim 32 (a multiple of 16, as vit_b's 64 and vit_h's 80): the cuda
    # target keeps qkv and the attention output in bf16 only there, and
    # tiny's head dim is 24. One windowed block, one global.
    "tiny32": dict(img_size=256, embed_dim=128, depth=2, num_heads=4,
                   global_attn_indexes=(1,)),
}
COMMON = dict(patch_size=16, in_chans=3, mlp_ratio=4.0, out_chans=256,
              qkv_bias=True, use_abs_pos=True, use_rel_pos=True, window_size=14)


def _static_shape(t):
    """Tensor shape as Python ints.  During torch.onnx tracing this turns the
    sizes into constants, so the exported graph has static shapes and no
    Shape/Gather/Range shape arithmetic (all models here are exported with
    fixed input shapes)."""
    return tuple(int(s) for s in t.shape)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dim of an NCHW tensor."""

    def __init__(self, num_channels, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class MLPBlock(nn.Module):
    def __init__(self, embedding_dim, mlp_dim):
        super().__init__()
        self.lin1 = nn.Linear(embedding_dim, mlp_dim)
        self.lin2 = nn.Linear(mlp_dim, embedding_dim)
        self.act = nn.GELU()  # exact erf formulation

    def forward(self, x):
        return self.lin2(self.act(self.lin1(x)))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size, in_chans, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).permute(0, 2, 3, 1)  # B C H W -> B H W C


def get_rel_pos(q_size, k_size, rel_pos):
    """Relative positional embeddings for all (query, key) position pairs.
    rel_pos: (L, C).  Returns (q_size, k_size, C).  Interpolates (linear) only
    if L != 2*max(q_size, k_size) - 1."""
    max_rel_dist = int(2 * max(q_size, k_size) - 1)
    if int(rel_pos.shape[0]) != max_rel_dist:
        rel_pos_resized = F.interpolate(
            rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1),
            size=max_rel_dist, mode="linear")
        rel_pos_resized = rel_pos_resized.reshape(-1, max_rel_dist).permute(1, 0)
    else:
        rel_pos_resized = rel_pos
    q_coords = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    relative_coords = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos_resized[relative_coords.long()]


def add_decomposed_rel_pos(attn, q, rel_pos_h, rel_pos_w, q_size, k_size):
    """attn: (B, q_h*q_w, k_h*k_w) logits; q: (B, q_h*q_w, C)."""
    q_h, q_w = q_size
    k_h, k_w = k_size
    Rh = get_rel_pos(q_h, k_h, rel_pos_h)
    Rw = get_rel_pos(q_w, k_w, rel_pos_w)
    B, _, dim = _static_shape(q)
    r_q = q.reshape(B, q_h, q_w, dim)
    rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, Rh)
    rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, Rw)
    attn = (attn.view(B, q_h, q_w, k_h, k_w)
            + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :])
    return attn.view(B, q_h * q_w, k_h * k_w)


class Attention(nn.Module):
    def __init__(self, dim, num_heads, qkv_bias, use_rel_pos, input_size):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def forward(self, x):
        B, H, W, _ = _static_shape(x)
        qkv = self.qkv(x).reshape(B, H * W, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, B * self.num_heads, H * W, -1).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        if self.use_rel_pos:
            attn = add_decomposed_rel_pos(attn, q, self.rel_pos_h, self.rel_pos_w, (H, W), (H, W))
        attn = attn.softmax(dim=-1)
        x = (attn @ v).view(B, self.num_heads, H, W, -1).permute(0, 2, 3, 1, 4).reshape(B, H, W, -1)
        return self.proj(x)


def window_partition(x, window_size):
    """(B, H, W, C) -> (B*num_windows, ws, ws, C), zero-padding H, W up to a
    multiple of the window size.  Returns the windows and (Hp, Wp)."""
    B, H, W, C = _static_shape(x)
    pad_h = (window_size - H % window_size) % window_size
    pad_w = (window_size - W % window_size) % window_size
    if pad_h > 0 or pad_w > 0:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    Hp, Wp = H + pad_h, W + pad_w
    x = x.view(B, Hp // window_size, window_size, Wp // window_size, window_size, C)
    windows = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, C)
    return windows, (Hp, Wp)


def window_unpartition(windows, window_size, pad_hw, hw):
    Hp, Wp = pad_hw
    H, W = hw
    B = int(windows.shape[0]) // (Hp * Wp // window_size // window_size)
    x = windows.view(B, Hp // window_size, Wp // window_size, window_size, window_size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, Hp, Wp, -1)
    if Hp > H or Wp > W:
        x = x[:, :H, :W, :].contiguous()
    return x


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio, qkv_bias, use_rel_pos, window_size, input_size):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias, use_rel_pos,
                              input_size if window_size == 0 else (window_size, window_size))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(dim, int(dim * mlp_ratio))
        self.window_size = window_size

    def forward(self, x):
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            H, W = int(x.shape[1]), int(x.shape[2])
            x, pad_hw = window_partition(x, self.window_size)
        x = self.attn(x)
        if self.window_size > 0:
            x = window_unpartition(x, self.window_size, pad_hw, (H, W))
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class ImageEncoderViT(nn.Module):
    def __init__(self, img_size=1024, patch_size=16, in_chans=3, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4.0, out_chans=256, qkv_bias=True,
                 use_abs_pos=True, use_rel_pos=True, window_size=14,
                 global_attn_indexes=()):
        super().__init__()
        self.img_size = img_size
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        grid = img_size // patch_size
        self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim)) if use_abs_pos else None
        self.blocks = nn.ModuleList([
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias, use_rel_pos,
                  0 if i in global_attn_indexes else window_size, (grid, grid))
            for i in range(depth)])
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans))

    def forward(self, x):
        x = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.neck(x.permute(0, 3, 1, 2))


def build_encoder(name):
    cfg = dict(COMMON)
    cfg.update(CONFIGS[name])
    return ImageEncoderViT(**cfg), cfg


def init_weights(model, seed=0):
    """Deterministic, non-trivial initialisation.

    torch.manual_seed(seed) is set *before* construction by the caller, so
    Linear/Conv get PyTorch's default (kaiming-uniform) init.  Then, from a
    generator seeded with `seed`:
      pos_embed, rel_pos_h, rel_pos_w ~ trunc_normal(std 0.02, +-2 std)
      LayerNorm / LayerNorm2d weight ~ 1 + 0.1*N(0,1), bias ~ 0.02*N(0,1)
    so that the position-embedding paths and the norm affine parameters all
    affect the output (SAM's own init sets them to 0/1 and relies on the
    checkpoint)."""
    g = torch.Generator().manual_seed(seed)

    def tn(t, std):
        with torch.no_grad():
            v = torch.randn(t.shape, generator=g) * std
            t.copy_(v.clamp(-2 * std, 2 * std))

    with torch.no_grad():
        if model.pos_embed is not None:
            tn(model.pos_embed, 0.02)
        for m in model.modules():
            if isinstance(m, Attention) and m.use_rel_pos:
                tn(m.rel_pos_h, 0.02)
                tn(m.rel_pos_w, 0.02)
            if isinstance(m, (nn.LayerNorm, LayerNorm2d)):
                m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.02 * torch.randn(m.bias.shape, generator=g))
    return model


def make_model(name, seed=0):
    torch.manual_seed(seed)
    model, cfg = build_encoder(name)
    init_weights(model, seed)
    model.eval()
    return model, cfg


def analytic_flops(cfg, batch=1):
    """2*MACs of convs, Linears and attention matmuls (incl. the rel-pos
    einsums) of one forward, computed from the config alone."""
    img, p, C = cfg["img_size"], cfg["patch_size"], cfg["embed_dim"]
    heads, ws, out = cfg["num_heads"], cfg["window_size"], cfg["out_chans"]
    g = img // p
    hd = C // heads
    macs = g * g * C * cfg["in_chans"] * p * p            # patch embed
    for i in range(cfg["depth"]):
        if i in cfg["global_attn_indexes"]:
            nwin, side = 1, g
        else:
            gp = int(math.ceil(g / ws)) * ws
            nwin, side = (gp // ws) ** 2, ws
        T = nwin * side * side                               # tokens incl. padding
        n = side * side
        macs += T * C * 3 * C                                # qkv
        macs += nwin * heads * (2 * n * n * hd)              # q@k^T, attn@v
        if cfg["use_rel_pos"]:
            macs += nwin * heads * 2 * (n * side * hd)       # 2 rel-pos einsums
        macs += T * C * C                                    # proj
        macs += g * g * 2 * C * int(C * cfg["mlp_ratio"])    # mlp (unpadded tokens)
    macs += g * g * C * out + g * g * out * out * 9          # neck
    return 2 * macs * batch
