// Shared plumbing for the oneDNN kernels: the CPU engine, dtype mapping, small
// constant memories (scales, zero points) and dnnl::error -> Status.
#pragma once

#include <array>
#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "octet/dtype.h"
#include "octet/status.h"
#include "octet/x86/int8_kernels.h"  // PackedWeights

namespace octet::x86::detail {

// One CPU engine for the process (oneDNN engines are thread-safe). Throws
// dnnl::error like every other oneDNN call, so callers' catch blocks cover it.
const dnnl::engine& CpuEngine();

// u8, i8, i32, f32 -> oneDNN's data type; anything else -> undef.
dnnl::memory::data_type ToDnnl(DType t);

// A 1-D memory owned by oneDNN holding a copy of `values` (scales, zero points,
// bias), so the caller's vectors need not outlive the kernel. `dims` (row-major)
// defaults to [values.size()].
dnnl::memory ConstF32(const std::vector<float>& values, dnnl::memory::dims dims = {});
dnnl::memory ConstS32(int32_t value);

// "Int8Conv2d ...: oneDNN could not create ... (unimplemented)" with a code that
// says whether the configuration is unsupported or wrong.
Status FromDnnlError(const dnnl::error& e, const std::string& what);

// Runs `p` with args on a fresh stream and, when the primitive asked for a
// user-managed scratchpad, the calling thread's own (reused) scratch buffer:
// so several threads may run the same primitive at once.
void Execute(const dnnl::primitive& p, const dnnl::memory::desc& scratchpad,
             std::unordered_map<int, dnnl::memory> args);

// Runs a primitive whose only per-run arguments are one f32 src and one f32
// dst (layer norm, softmax, eltwise, convolution), plus `const_args` (packed
// weights, scales) shared by every run. src may equal dst where the primitive
// allows in place.
template <typename PrimitiveDesc>
Status RunSrcDst(const dnnl::primitive& prim, const PrimitiveDesc& pd,
                 const std::unordered_map<int, dnnl::memory>& const_args, const float* src,
                 float* dst, const std::string& description) {
  if (!src || !dst) return InvalidArgument(description, ": src and dst must not be null");
  try {
    const auto& eng = CpuEngine();
    std::unordered_map<int, dnnl::memory> args = const_args;
    args[DNNL_ARG_SRC] = dnnl::memory(pd.src_desc(), eng, const_cast<float*>(src));  // read only
    args[DNNL_ARG_DST] = dnnl::memory(pd.dst_desc(), eng, dst);
    Execute(prim, pd.scratchpad_desc(), std::move(args));
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, description);
  }
  return Status::Ok();
}

std::string DimsString(const std::vector<int64_t>& dims);  // "[1,64,56,56]"

// PackedWeights::layout of a weights descriptor: oneDNN's version and the ISA
// it dispatches to, the data type, dims, strides, inner blocks and byte size.
// oneDNN 3.2 cannot serialise a descriptor (nor expose the flags of the
// compensation it appends to int8 weights), but for one primitive
// configuration, version and ISA its choice is deterministic, and the
// configuration is the op's own.
std::string PackedLayoutFingerprint(const dnnl::memory::desc& md);

// The primitive's weights: `prepacked`'s bytes wrapped in place when their
// layout is `want`'s, else `plain` reordered into a new buffer. Throws
// dnnl::error like the calls it makes.
dnnl::memory PackedOrReordered(const dnnl::memory::desc& want, const dnnl::memory& plain,
                               const PackedWeights& prepacked, bool* used_prepacked);

// The packed weights of a primitive as PackedWeights (a view sharing `m`).
PackedWeights DescribePacked(const dnnl::memory& m);

// N, out_channels, OH, OW of a 2-D convolution or pooling window of `kernel`
// over N, C, H, W: an error when a stride or dilation is below 1, a pad is
// negative, or the dilated window does not fit the padded input.
Status WindowOutputDims(const std::vector<int64_t>& src_dims, int64_t out_channels,
                        const std::array<int64_t, 2>& kernel, const std::array<int64_t, 2>& strides,
                        const std::array<int64_t, 2>& dilations, const std::array<int64_t, 4>& pads,
                        std::vector<int64_t>* dst_dims);

// Scales must be finite and > 0; zero points in the range of `t`.
Status CheckScale(float scale, const std::string& what);
Status CheckZeroPoint(int32_t zp, DType t, const std::string& what);

}  // namespace octet::x86::detail
