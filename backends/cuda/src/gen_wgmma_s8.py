#!/usr/bin/env python3
"""Prints wgmma_s8.cuh: the wgmma s8 x s8 -> s32 wrappers for N = 64, 128, 192 and 256.

Inline PTX needs every accumulator register as its own operand (N / 2 of them
per thread), too many to write by hand.
Usage: backends/cuda/src/gen_wgmma_s8.py > backends/cuda/src/wgmma_s8.cuh
"""


def wrapper(n: int) -> str:
    regs = n // 2
    names = [f"%{i}" for i in range(regs)]
    lines = [
        f"// D[64x{n}] (s32, registers) += A[64x32] * B[{n}x32]^T (s8, shared memory descriptors).",
        f"__device__ __forceinline__ void WgmmaM64N{n}K32S8(int32_t (&d)[{regs}], uint64_t desc_a,",
        "                                                  uint64_t desc_b) {",
        "  asm volatile(",
        f'      "wgmma.mma_async.sync.aligned.m64n{n}k32.s32.s8.s8 "',
    ]
    for i in range(0, regs, 16):
        pre = "{" if i == 0 else ""
        post = "}, " if i + 16 >= regs else ", "
        lines.append(f'      "{pre}{", ".join(names[i:i + 16])}{post}"')
    lines.append(f'      "%{regs}, %{regs + 1}, 1;\\n"')
    outs = [f'"+r"(d[{i}])' for i in range(regs)]
    for i in range(0, regs, 8):
        pre = "      : " if i == 0 else "        "
        post = "" if i + 8 >= regs else ","
        lines.append(pre + ", ".join(outs[i:i + 8]) + post)
    lines.append('      : "l"(desc_a), "l"(desc_b));')
    lines.append("}")
    return "\n".join(lines)


HEADER = """// wgmma.mma_async for s8 x s8 -> s32 at the tile widths the int8 GEMM uses.
// Inline PTX needs every accumulator register spelled out, so this file is
// generated: backends/cuda/src/gen_wgmma_s8.py > wgmma_s8.cuh (then clang-format).
// scale-d is the immediate 1 (accumulate): the caller zeroes the accumulators.
#pragma once

#include <cstdint>

namespace octet::cuda::sm90 {
"""

if __name__ == "__main__":
    print(HEADER)
    print(wrapper(64))
    print()
    print(wrapper(128))
    print()
    print(wrapper(192))
    print()
    print(wrapper(256))
    print()
    print("}  // namespace octet::cuda::sm90")
