// Helpers shared by the data-movement kernels (kernels_datamovement.cc,
// kernels_shape.cc, kernels_slice_pad.cc). These kernels never look at element
// values, only at their bytes, so one implementation per element *size* serves
// every dtype.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernel_util.h"

namespace octet::reference {

// Registration of the kernels that live outside kernels_datamovement.cc;
// RegisterDataMovementKernels calls these.
void RegisterShapeKernels(KernelRegistry& r);
void RegisterSlicePadKernels(KernelRegistry& r);

// The helpers have their own namespace: other kernel files define helpers with
// the same short names in octet::reference.
namespace movement {

// "[2,3,4]" for error messages.
std::string DimsString(const std::vector<int64_t>& dims);

// Bytes per element of `t`. Packed 4-bit types have no byte-addressable element,
// so kernels that move single elements reject them (Unimplemented, naming the
// node); `what` names the tensor ("input 'data'").
Expected<int> ElementBytes(const KernelContext& ctx, const Tensor& t, const char* what);

// The input at `index`, or an error naming the node and the missing input.
Expected<const Tensor*> RequiredInput(const KernelContext& ctx, int index, const char* what);

// Creates a tensor for the kernel to fill, turning bad or oversized dims into an
// error that names the node instead of asserting.
Expected<Tensor> NewOutput(const KernelContext& ctx, DType dtype, std::vector<int64_t> dims);

// Marks an output coordinate that has no input element (padding).
constexpr int64_t kFillElement = -1;

// The common core of Transpose, Slice, Expand, Tile and Pad. Each output
// dimension d maps its coordinate c to an input element offset contribution
// offset(d, c) (coordinate times stride, already resolved for steps,
// broadcasting, repetition or reflection), or to kFillElement. Copies `in` into
// the already created `out` in row-major order: out = in[sum_d offset(d, c_d)],
// or the fill element if any contribution is kFillElement. `fill` points at one
// element's bytes (nullptr: zeros). Builds no tables for an empty output, whose
// other dims may be arbitrarily large.
Status CopyByTables(const KernelContext& ctx, const Tensor& in, Tensor& out,
                    const std::function<int64_t(int, int64_t)>& offset, const void* fill);

}  // namespace movement
}  // namespace octet::reference
