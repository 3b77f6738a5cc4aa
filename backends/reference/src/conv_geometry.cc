#include "conv_geometry.h"

#include <algorithm>

namespace octet::reference {

std::string DimsString(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

Expected<WindowAttrs> ReadWindowAttrs(const KernelContext& ctx, int spatial,
                                      const std::vector<int64_t>* inferred_kernel) {
  const Node& node = ctx.node;
  WindowAttrs w;
  OCTET_ASSIGN_OR_RETURN(w.auto_pad, node.GetString("auto_pad", std::string("NOTSET")));
  if (w.auto_pad != "NOTSET" && w.auto_pad != "SAME_UPPER" && w.auto_pad != "SAME_LOWER" &&
      w.auto_pad != "VALID")
    return ctx.Fail("auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID but is '", w.auto_pad,
                    "'");
  if (node.HasAttr("kernel_shape")) {
    OCTET_ASSIGN_OR_RETURN(w.kernel, node.GetInts("kernel_shape", std::nullopt));
    if (inferred_kernel != nullptr && w.kernel != *inferred_kernel)
      return ctx.Fail("kernel_shape ", DimsString(w.kernel),
                      " does not match the weight's spatial dims ", DimsString(*inferred_kernel));
  } else if (inferred_kernel != nullptr) {
    w.kernel = *inferred_kernel;
  } else {
    return ctx.Fail("the kernel_shape attribute is required");
  }
  const std::vector<int64_t> ones(spatial, 1);
  OCTET_ASSIGN_OR_RETURN(w.strides, node.GetInts("strides", ones));
  OCTET_ASSIGN_OR_RETURN(w.dilations, node.GetInts("dilations", ones));
  OCTET_ASSIGN_OR_RETURN(w.pads, node.GetInts("pads", std::vector<int64_t>(2 * spatial, 0)));
  // An empty list is how some exporters spell "the default".
  if (w.strides.empty()) w.strides = ones;
  if (w.dilations.empty()) w.dilations = ones;
  if (w.pads.empty()) w.pads.assign(2 * spatial, 0);
  auto check_len = [&](const std::vector<int64_t>& v, const char* name, size_t want) -> Status {
    if (v.size() != want)
      return ctx.Fail(name, " has ", v.size(), " values but the input has ", spatial,
                      " spatial dims (expected ", want, ")");
    return Status::Ok();
  };
  OCTET_RETURN_IF_ERROR(check_len(w.kernel, "kernel_shape", spatial));
  OCTET_RETURN_IF_ERROR(check_len(w.strides, "strides", spatial));
  OCTET_RETURN_IF_ERROR(check_len(w.dilations, "dilations", spatial));
  OCTET_RETURN_IF_ERROR(check_len(w.pads, "pads", 2 * spatial));
  for (int d = 0; d < spatial; ++d) {
    if (w.kernel[d] < 1 || w.strides[d] < 1 || w.dilations[d] < 1)
      return ctx.Fail("kernel_shape, strides and dilations must be positive but got ",
                      DimsString(w.kernel), ", ", DimsString(w.strides), ", ",
                      DimsString(w.dilations));
  }
  for (int64_t p : w.pads)
    if (p < 0) return ctx.Fail("pads must be non-negative but got ", DimsString(w.pads));
  return w;
}

Expected<std::vector<WindowDim>> ResolveForwardWindows(const KernelContext& ctx,
                                                       const WindowAttrs& attrs,
                                                       const std::vector<int64_t>& in_spatial,
                                                       bool ceil_mode) {
  const size_t spatial = in_spatial.size();
  std::vector<WindowDim> dims(spatial);
  for (size_t d = 0; d < spatial; ++d) {
    WindowDim& w = dims[d];
    w.in = in_spatial[d];
    w.kernel = attrs.kernel[d];
    w.stride = attrs.strides[d];
    w.dilation = attrs.dilations[d];
    if (attrs.auto_pad == "SAME_UPPER" || attrs.auto_pad == "SAME_LOWER") {
      w.out = (w.in + w.stride - 1) / w.stride;
      const int64_t total = std::max<int64_t>(0, (w.out - 1) * w.stride + w.span() - w.in);
      // SAME_UPPER puts the odd padding element at the end, SAME_LOWER at the start.
      w.pad_begin = attrs.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.pad_end = total - w.pad_begin;
      continue;
    }
    if (attrs.auto_pad == "NOTSET") {
      w.pad_begin = attrs.pads[d];
      w.pad_end = attrs.pads[d + spatial];
    }
    const int64_t room = w.in + w.pad_begin + w.pad_end - w.span();
    if (room < 0)
      return ctx.Fail("window of extent ", w.span(), " (kernel ", w.kernel, ", dilation ",
                      w.dilation, ") does not fit spatial dim ", d, " of size ", w.in,
                      " with pads ", w.pad_begin, "+", w.pad_end, " (input spatial shape ",
                      DimsString(in_spatial), ")");
    if (ceil_mode) {
      w.out = (room + w.stride - 1) / w.stride + 1;
      // A window may not start in the end padding (it would see no input); this
      // is the rule PyTorch and onnxruntime apply.
      if ((w.out - 1) * w.stride >= w.in + w.pad_begin) --w.out;
    } else {
      w.out = room / w.stride + 1;
    }
  }
  return dims;
}

int64_t ConvGeometry::in_size() const {
  int64_t n = 1;
  for (const WindowDim& w : dims) n *= w.in;
  return n;
}
int64_t ConvGeometry::out_size() const {
  int64_t n = 1;
  for (const WindowDim& w : dims) n *= w.out;
  return n;
}
int64_t ConvGeometry::kernel_size() const {
  int64_t n = 1;
  for (const WindowDim& w : dims) n *= w.kernel;
  return n;
}

// Checks what Conv and ConvTranspose share: X and W present, ranks >= 3 and
// equal, a positive group. Returns the group.
static Expected<int64_t> CheckConvOperands(const KernelContext& ctx, const Tensor* x,
                                           const Tensor* w) {
  if (x == nullptr || w == nullptr) return ctx.Fail("the X and W inputs are required");
  if (x->rank() < 3)
    return ctx.Fail("X must have shape [N, C, spatial...] (rank >= 3) but has shape ",
                    x->ShapeString());
  if (w->rank() != x->rank())
    return ctx.Fail("W must have the same rank as X (", x->rank(), ") but X is ", x->ShapeString(),
                    " and W is ", w->ShapeString());
  OCTET_ASSIGN_OR_RETURN(int64_t group, ctx.node.GetInt("group", 1));
  if (group < 1) return ctx.Fail("group must be positive but is ", group);
  return group;
}

Expected<ConvGeometry> ResolveConv(const KernelContext& ctx, int x_index, int w_index,
                                   int b_index) {
  const Tensor* x = ctx.input(x_index);
  const Tensor* w = ctx.input(w_index);
  OCTET_ASSIGN_OR_RETURN(int64_t group, CheckConvOperands(ctx, x, w));
  ConvGeometry g;
  g.batch = x->dim(0);
  g.in_channels = x->dim(1);
  g.out_channels = w->dim(0);
  g.group = group;
  if (g.in_channels % group != 0 || g.out_channels % group != 0 ||
      w->dim(1) * group != g.in_channels)
    return ctx.Fail("channel mismatch: X ", x->ShapeString(), " has ", g.in_channels,
                    " channels but W ", w->ShapeString(), " expects ", w->dim(1), " x group ",
                    group, " = ", w->dim(1) * group,
                    " (and both channel counts must divide by group)");
  const Tensor* b = b_index >= 0 ? ctx.input(b_index) : nullptr;
  if (b != nullptr && (b->rank() != 1 || b->dim(0) != g.out_channels))
    return ctx.Fail("bias must have shape [", g.out_channels, "] (one per output channel of W ",
                    w->ShapeString(), ") but has shape ", b->ShapeString());
  const std::vector<int64_t> in_spatial(x->dims().begin() + 2, x->dims().end());
  const std::vector<int64_t> kernel(w->dims().begin() + 2, w->dims().end());
  OCTET_ASSIGN_OR_RETURN(WindowAttrs attrs,
                         ReadWindowAttrs(ctx, static_cast<int>(in_spatial.size()), &kernel));
  OCTET_ASSIGN_OR_RETURN(g.dims, ResolveForwardWindows(ctx, attrs, in_spatial, false));
  return g;
}

Expected<ConvGeometry> ResolveConvTranspose(const KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  const Tensor* w = ctx.input(1);
  OCTET_ASSIGN_OR_RETURN(int64_t group, CheckConvOperands(ctx, x, w));
  ConvGeometry g;
  g.batch = x->dim(0);
  g.in_channels = x->dim(1);
  g.out_channels = w->dim(1) * group;
  g.group = group;
  if (w->dim(0) != g.in_channels || g.in_channels % group != 0)
    return ctx.Fail("channel mismatch: X ", x->ShapeString(), " has ", g.in_channels,
                    " channels but W ", w->ShapeString(), " has ", w->dim(0),
                    " input channels (they must be equal and divide by group ", group, ")");
  const Tensor* b = ctx.input(2);
  if (b != nullptr && (b->rank() != 1 || b->dim(0) != g.out_channels))
    return ctx.Fail("bias must have shape [", g.out_channels, "] (W ", w->ShapeString(),
                    " x group ", group, ") but has shape ", b->ShapeString());
  const int spatial = x->rank() - 2;
  const std::vector<int64_t> kernel(w->dims().begin() + 2, w->dims().end());
  OCTET_ASSIGN_OR_RETURN(WindowAttrs attrs, ReadWindowAttrs(ctx, spatial, &kernel));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> out_pad,
                         ctx.node.GetInts("output_padding", std::vector<int64_t>(spatial, 0)));
  if (out_pad.empty()) out_pad.assign(spatial, 0);
  if (static_cast<int>(out_pad.size()) != spatial)
    return ctx.Fail("output_padding has ", out_pad.size(), " values but the input has ", spatial,
                    " spatial dims");
  std::vector<int64_t> out_shape;
  if (ctx.node.HasAttr("output_shape")) {
    OCTET_ASSIGN_OR_RETURN(out_shape, ctx.node.GetInts("output_shape", std::nullopt));
    // Older exporters give the full [N, C, spatial...] shape.
    if (static_cast<int>(out_shape.size()) == spatial + 2)
      out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
    if (static_cast<int>(out_shape.size()) != spatial)
      return ctx.Fail("output_shape ", DimsString(out_shape), " must list the ", spatial,
                      " spatial output dims");
  }
  const bool same = attrs.auto_pad == "SAME_UPPER" || attrs.auto_pad == "SAME_LOWER";
  g.dims.resize(spatial);
  for (int d = 0; d < spatial; ++d) {
    WindowDim& wd = g.dims[d];
    wd.in = x->dim(d + 2);
    wd.kernel = attrs.kernel[d];
    wd.stride = attrs.strides[d];
    wd.dilation = attrs.dilations[d];
    if (out_pad[d] < 0)
      return ctx.Fail("output_padding must be non-negative but is ", DimsString(out_pad));
    const int64_t full = wd.stride * (wd.in - 1) + out_pad[d] + wd.span();
    if (!out_shape.empty() || same) {
      // The spec derives the pads from the requested output size; SAME_UPPER
      // puts the odd padding element at the end, everything else at the start.
      wd.out = out_shape.empty() ? wd.in * wd.stride : out_shape[d];
      const int64_t total = full - wd.out;
      // Floor division, as in the spec's Python, for a negative total (an output
      // larger than the full result).
      const int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2);
      wd.pad_begin = attrs.auto_pad == "SAME_UPPER" ? half : total - half;
      wd.pad_end = total - wd.pad_begin;
    } else {
      if (attrs.auto_pad == "NOTSET") {
        wd.pad_begin = attrs.pads[d];
        wd.pad_end = attrs.pads[d + spatial];
      }
      wd.out = full - wd.pad_begin - wd.pad_end;
    }
    if (wd.out < 0)
      return ctx.Fail("output spatial dim ", d, " would be ", wd.out, " (input ", x->ShapeString(),
                      ", kernel ", DimsString(attrs.kernel), ", pads ", DimsString(attrs.pads),
                      ")");
  }
  return g;
}

}  // namespace octet::reference
