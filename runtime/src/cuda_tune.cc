// TuneCudaModule (octet/runtime/tune.h): times the GEMM of each
// cuda.dynamic_int8_matmul and cuda.dynamic_int8_conv (the convolution's
// im2col GEMM, or its implicit GEMM over the input's codes where the
// executor takes it) at the planned
// rows with every tile, on constant codes (the
// time of an int8 GEMM does not depend on the values), 3 warm-up and 10 timed
// runs each, CUDA events around each run; and the u4 kernel shapes of each
// int4 cuda.weight_only_matmul whose planned rows run a kernel
// (WeightOnlyGemm::TuneInt4Shape: chained launches, weights from DRAM).
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "cuda_executors.h"
#include "octet/cuda/conv_int8_kernels.h"
#include "octet/cuda/cuda_status.h"
#include "octet/cuda/device.h"
#include "octet/cuda/device_buffer.h"
#include "octet/cuda/int8_kernels.h"
#include "octet/cuda/weight_only_gemm.h"
#include "octet/runtime/tune.h"

namespace octet::runtime {
namespace {

constexpr const char kDynamicMatMul[] = "cuda.dynamic_int8_matmul";
constexpr const char kDynamicConv[] = "cuda.dynamic_int8_conv";
constexpr const char kWeightOnlyMatMul[] = "cuda.weight_only_matmul";
constexpr int kWarmup = 3, kRuns = 10;

// A slot's dims at the module's reference dims.
Expected<std::vector<int64_t>> PlannedDims(const ModuleDesc& desc, const ModuleOp& op,
                                           int32_t slot) {
  std::vector<int64_t> dims;
  for (const Dim& d : desc.slots[slot].shape.dims()) {
    if (d.is_static()) {
      dims.push_back(d.value());
      continue;
    }
    auto it = desc.memory_plan.reference_dims.find(d.symbol());
    if (it == desc.memory_plan.reference_dims.end())
      return InvalidArgument("op '", op.name, "': dims ", desc.slots[slot].shape.ToString(),
                             " have no planned value");
    dims.push_back(it->second);
  }
  return dims;
}

// Elements of a slot at the module's reference dims.
Expected<int64_t> PlannedNumel(const ModuleDesc& desc, const ModuleOp& op, int32_t slot) {
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> dims, PlannedDims(desc, op, slot));
  int64_t numel = 1;
  for (int64_t d : dims) numel *= d;
  return numel;
}

// The GEMM's rows at the planned dims: the matmul's input rows [..., K]; the
// convolution's output pixels (y holds O values per pixel, whatever its
// layout).
Expected<int64_t> PlannedRows(const ModuleDesc& desc, const ModuleOp& op, int64_t n, int64_t k) {
  if (op.kernel == kDynamicConv) {
    OCTET_ASSIGN_OR_RETURN(int64_t y, PlannedNumel(desc, op, op.outputs[0]));
    return y / n;
  }
  OCTET_ASSIGN_OR_RETURN(int64_t x, PlannedNumel(desc, op, op.inputs[0]));
  return x / k;
}

// The median time of run() (one GEMM launch) over kRuns after kWarmup.
template <class Run>
Expected<double> MedianMs(const cuda::Int8DynamicGemm& gemm, Run run) {
  cudaEvent_t start = nullptr, stop = nullptr;
  OCTET_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  OCTET_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  std::vector<double> ms;
  Status s = Status::Ok();
  for (int i = 0; i < kWarmup + kRuns && s.ok(); ++i) {
    (void)cudaEventRecord(start, nullptr);
    s = run();
    (void)cudaEventRecord(stop, nullptr);
    if (s.ok() && cudaEventSynchronize(stop) != cudaSuccess)
      s = Internal("synchronising after ", gemm.description(), " failed");
    float t = 0.f;
    if (s.ok() && i >= kWarmup) {
      (void)cudaEventElapsedTime(&t, start, stop);
      ms.push_back(t);
    }
  }
  (void)cudaEventDestroy(start);
  (void)cudaEventDestroy(stop);
  OCTET_RETURN_IF_ERROR(s);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// A cuda.dynamic_int8_conv whose executor takes the implicit GEMM at the
// planned dims (x_codes = 1, x NHWC, ImplicitGemmFirst): its input's NCHW
// sizes (x is NHWC), the window, x's element count.
struct ImplicitConvGeometry {
  cuda::Conv2dDims dims;
  cuda::Window2d window;
  int64_t x_numel = 0;
};
Expected<std::optional<ImplicitConvGeometry>> ReadImplicitConv(const ModuleDesc& desc,
                                                               const ModuleOp& op) {
  OCTET_ASSIGN_OR_RETURN(int64_t x_codes, op.Get<int64_t>("x_codes", int64_t{0}));
  OCTET_ASSIGN_OR_RETURN(std::string x_layout, op.Get<std::string>("x_layout"));
  if (x_codes == 0 || x_layout != "nhwc") return std::optional<ImplicitConvGeometry>();
  ImplicitConvGeometry g;
  OCTET_ASSIGN_OR_RETURN(g.window, ReadCudaWindow(op));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> x, PlannedDims(desc, op, op.inputs[0]));  // NHWC
  if (x.size() != 4) return InvalidArgument("op '", op.name, "': an NHWC input of 4 dims expected");
  const cuda::Window2d& w = g.window;
  g.dims = {x[0], x[3], x[1], x[2], 0, 0, 0};
  g.dims.out_height =
      (x[1] + w.pad_top + w.pad_bottom - w.dilation_h * (w.kernel_h - 1) - 1) / w.stride_h + 1;
  g.dims.out_width =
      (x[2] + w.pad_left + w.pad_right - w.dilation_w * (w.kernel_w - 1) - 1) / w.stride_w + 1;
  g.x_numel = x[0] * x[1] * x[2] * x[3];
  if (!cuda::ImplicitGemmFirst(g.dims, g.window)) return std::optional<ImplicitConvGeometry>();
  return std::optional<ImplicitConvGeometry>(g);
}

// Sets the attributes, replacing those of the same names.
void SetAttrs(ModuleOp& op, const std::vector<ModuleAttr>& attrs) {
  op.attrs.erase(std::remove_if(op.attrs.begin(), op.attrs.end(),
                                [&](const ModuleAttr& a) {
                                  for (const ModuleAttr& b : attrs)
                                    if (a.name == b.name) return true;
                                  return false;
                                }),
                 op.attrs.end());
  op.attrs.insert(op.attrs.end(), attrs.begin(), attrs.end());
}

std::string ShapeName(int shape) { return "shape " + std::to_string(shape); }

// An int4 cuda.weight_only_matmul: its u4 kernel shapes at the planned rows,
// the GEMM made as the executor makes it. Nothing for int8 codes or rows that
// run cuBLASLt.
Expected<std::optional<TunedOp>> TuneWeightOnly(const ModuleDesc& desc, const LoadedModule& loaded,
                                                ModuleOp& op) {
  OCTET_ASSIGN_OR_RETURN(cuda::WeightOnlyGemmConfig c, ReadWeightOnlyConfig(op, [&](int32_t slot) {
                           return loaded.ConstantTensor(slot);
                         }));
  if (c.codes.dtype() != DType::kU4 || c.codes.rank() != 2) return std::optional<TunedOp>();
  auto gemm = cuda::WeightOnlyGemm::Create(c);
  if (!gemm.ok()) return gemm.status().WithContext("op '" + op.name + "'");
  TunedOp t;
  t.op = op.name;
  t.n = gemm->n();
  t.k = gemm->k();
  OCTET_ASSIGN_OR_RETURN(t.m, PlannedRows(desc, op, t.n, t.k));
  if (t.m < 1 || gemm->PathFor(t.m) == cuda::WeightOnlyPath::kCublasLtBf16)
    return std::optional<TunedOp>();
  auto tuning = gemm->TuneInt4Shape(t.m);
  if (!tuning.ok()) return tuning.status().WithContext("op '" + op.name + "'");
  for (const cuda::Int4ShapeTiming& timing : tuning->timings) {
    t.tiles.push_back(ShapeName(timing.shape));
    t.ms.push_back(timing.us / 1000);
  }
  t.chosen = ShapeName(tuning->best_shape);
  t.model_choice = ShapeName(tuning->rule_shape);
  SetAttrs(op, {{"tuned_int4_shape", int64_t{tuning->best_shape}}, {"tuned_rows", t.m}});
  return std::optional<TunedOp>(std::move(t));
}

}  // namespace

Expected<std::vector<TunedOp>> TuneCudaModule(CompiledModule* module) {
  ModuleDesc& desc = module->desc;
  if (desc.target != "cuda")
    return InvalidArgument("--tune is for cuda modules; this one is for target '", desc.target,
                           "'");
  std::string reason;
  if (!cuda::DeviceAvailable(&reason)) return NotFound("--tune needs a CUDA GPU: ", reason);
  OCTET_ASSIGN_OR_RETURN(std::string bytes, SerializeModule(desc, module->weights));
  OCTET_ASSIGN_OR_RETURN(LoadedModule loaded, LoadModuleFromBytes(bytes, "module to tune"));
  std::vector<TunedOp> report;
  for (ModuleOp& op : desc.ops) {
    if (op.kernel == kWeightOnlyMatMul) {
      OCTET_ASSIGN_OR_RETURN(std::optional<TunedOp> t, TuneWeightOnly(desc, loaded, op));
      if (t.has_value()) report.push_back(std::move(*t));
      continue;
    }
    if (op.kernel != kDynamicMatMul && op.kernel != kDynamicConv) continue;
    OCTET_ASSIGN_OR_RETURN(Tensor w, loaded.ConstantTensor(op.inputs[1]));
    OCTET_ASSIGN_OR_RETURN(Tensor scales, loaded.ConstantTensor(op.inputs[2]));
    TunedOp t;
    t.op = op.name;
    t.n = w.dim(0);
    t.k = w.dim(1);
    OCTET_ASSIGN_OR_RETURN(t.m, PlannedRows(desc, op, t.n, t.k));
    // The GEMM as the executor makes it; bias and activation cost the same
    // for every tile, so the plain product is timed.
    cuda::Int8DynamicGemmConfig c;
    c.weights = w;
    c.weight_layout = cuda::WeightLayout::kNK;
    c.weight_scales.assign(scales.data<float>(), scales.data<float>() + scales.numel());
    c.dst_type = DType::kF32;
    // The implicit convolution's GEMM gathers from x's codes (NHWC at the
    // planned dims); the others read [m, K] rows.
    std::optional<ImplicitConvGeometry> implicit;
    if (op.kernel == kDynamicConv) {
      OCTET_ASSIGN_OR_RETURN(implicit, ReadImplicitConv(desc, op));
      if (implicit) implicit->dims.out_channels = t.n;
    }
    const int64_t a_bytes = implicit ? implicit->x_numel : t.m * t.k;
    const int64_t scale_count = implicit ? implicit->dims.batch : t.m;
    OCTET_ASSIGN_OR_RETURN(cuda::DeviceBuffer a, cuda::DeviceBuffer::Allocate(a_bytes));
    OCTET_ASSIGN_OR_RETURN(cuda::DeviceBuffer row_scales,
                           cuda::DeviceBuffer::Allocate(sizeof(float) * scale_count));
    OCTET_ASSIGN_OR_RETURN(cuda::DeviceBuffer dst,
                           cuda::DeviceBuffer::Allocate(sizeof(float) * t.m * t.n));
    OCTET_CUDA_RETURN_IF_ERROR(cudaMemset(a.data(), 0x11, a_bytes));
    OCTET_CUDA_RETURN_IF_ERROR(cudaMemset(row_scales.data(), 0, sizeof(float) * scale_count));
    double best = 0;
    for (cuda::Int8GemmTile tile :
         {cuda::Int8GemmTile::kCooperative128x256, cuda::Int8GemmTile::kCooperative256x128,
          cuda::Int8GemmTile::kCooperative128x192, cuda::Int8GemmTile::kPingpong128x128,
          cuda::Int8GemmTile::kCooperative256x64}) {
      // The implicit convolution has cooperative tiles only.
      if (implicit && tile == cuda::Int8GemmTile::kPingpong128x128) continue;
      c.tile = tile;
      auto gemm = cuda::Int8DynamicGemm::Create(c);
      if (!gemm.ok()) return gemm.status().WithContext("op '" + op.name + "'");
      if (tile == cuda::Int8GemmTile::kCooperative128x256) {
        cuda::Int8DynamicGemmConfig automatic = c;
        automatic.tile = cuda::Int8GemmTile::kAuto;
        auto model = cuda::Int8DynamicGemm::Create(automatic);
        if (model.ok()) t.model_choice = cuda::Int8GemmTileName(model->TileFor(t.m));
      }
      auto ms = MedianMs(*gemm, [&] {
        return implicit
                   ? gemm->RunConv(a.as<int8_t>(), implicit->dims, implicit->window,
                                   row_scales.as<float>(), dst.data(), nullptr)
                   : gemm->Run(a.as<int8_t>(), row_scales.as<float>(), t.m, dst.data(), nullptr);
      });
      if (!ms.ok()) return ms.status().WithContext("op '" + op.name + "'");
      t.tiles.push_back(cuda::Int8GemmTileName(tile));
      t.ms.push_back(*ms);
      if (t.chosen.empty() || *ms < best) {
        best = *ms;
        t.chosen = cuda::Int8GemmTileName(tile);
      }
    }
    SetAttrs(op, {{"tuned_tile", t.chosen}, {"tuned_rows", t.m}});
    report.push_back(std::move(t));
  }
  return report;
}

}  // namespace octet::runtime
