// CudnnConv (cudnn_conv.h) on cuDNN's convolution API (cudnnConvolution-
// Forward with the v7 heuristic). cuDNN 9 marks that API deprecated in favour
// of its graph API, and still ships and supports it through 9.x; moving to the
// graph API (which would also fuse the bias / residual / relu epilogue) is
// listed in docs/cuda-backend.md.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include "octet/cuda/cudnn_conv.h"

#include <cudnn.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "octet/cuda/cuda_status.h"
#include "octet/cuda/device.h"

namespace octet::cuda {
namespace {

Status CudnnCallStatus(cudnnStatus_t status, const char* call, const char* file, int line) {
  const char* slash = std::strrchr(file, '/');
  // NOT_SUPPORTED: a valid problem cuDNN has no kernel for.
  const StatusCode code =
      status == CUDNN_STATUS_NOT_SUPPORTED ? StatusCode::kUnimplemented : StatusCode::kInternal;
  return Error(code, call, " failed at ", slash != nullptr ? slash + 1 : file, ":", line, ": ",
               cudnnGetErrorString(status));
}

#define OCTET_CUDNN_RETURN_IF_ERROR(call)                                     \
  do {                                                                        \
    const cudnnStatus_t _octet_cudnn_status = (call);                         \
    if (_octet_cudnn_status != CUDNN_STATUS_SUCCESS)                          \
      return CudnnCallStatus(_octet_cudnn_status, #call, __FILE__, __LINE__); \
  } while (0)

// One handle per device, shared by every convolution of the process and
// never destroyed (a handle is bound to the device current at creation;
// destroying it at exit would race the CUDA runtime's own teardown). The
// stream is the handle's state, so each enqueue sets it under `mutex`.
struct SharedHandle {
  std::mutex mutex;
  cudnnHandle_t handle = nullptr;
};

Expected<SharedHandle*> HandleForCurrentDevice() {
  static std::mutex mutex;
  static auto* handles = new std::map<int, SharedHandle*>();
  int device = 0;
  OCTET_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = handles->find(device); it != handles->end()) return it->second;
  cudnnHandle_t handle = nullptr;
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreate(&handle));
  auto* shared = new SharedHandle();
  shared->handle = handle;
  handles->emplace(device, shared);
  return shared;
}

const char* AlgoName(cudnnConvolutionFwdAlgo_t algo) {
  switch (algo) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
      return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
      return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
      return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
      return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
      return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
      return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
      return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
      return "WINOGRAD_NONFUSED";
    default:
      return "?";
  }
}

std::string AlgoText(cudnnConvolutionFwdAlgo_t algo, cudnnMathType_t math) {
  return std::string(AlgoName(algo)) + (math == CUDNN_FMA_MATH ? ", fma" : ", tensor ops");
}

// The descriptors and algorithm of one input size.
struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  ~Plan() {
    if (conv != nullptr) (void)cudnnDestroyConvolutionDescriptor(conv);
    if (y != nullptr) (void)cudnnDestroyTensorDescriptor(y);
    if (x != nullptr) (void)cudnnDestroyTensorDescriptor(x);
  }
};

using PlanKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, size_t>;

bool FitsInt(int64_t v) { return v >= 0 && v <= INT_MAX; }

}  // namespace

struct CudnnConv::Impl {
  CudnnConvConfig config;
  SharedHandle* handle = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  std::mutex mutex;
  std::map<PlanKey, std::shared_ptr<const Plan>> plans;

  ~Impl() {
    if (w != nullptr) (void)cudnnDestroyFilterDescriptor(w);
  }

  Status CheckDims(const Conv2dDims& d) const {
    const Window2d& win = config.window;
    if (d.out_channels != config.out_channels ||
        d.channels != config.channels_per_group * config.groups)
      return InvalidArgument("CudnnConv: input of ", d.channels, " channels -> ", d.out_channels,
                             " does not fit the weights [", config.out_channels, ", ", win.kernel_h,
                             ", ", win.kernel_w, ", ", config.channels_per_group, "] in ",
                             config.groups, " groups");
    for (int64_t v : {d.batch, d.channels, d.height, d.width, d.out_height, d.out_width,
                      d.batch * d.channels * d.height * d.width,
                      d.batch * d.out_channels * d.out_height * d.out_width})
      if (!FitsInt(v))
        return Unimplemented("CudnnConv: cuDNN's convolution takes tensors of fewer than 2^31 ",
                             "elements, got [", d.batch, ", ", d.channels, ", ", d.height, ", ",
                             d.width, "] -> [", d.batch, ", ", d.out_channels, ", ", d.out_height,
                             ", ", d.out_width, "]");
    return Status::Ok();
  }

  // The descriptors of one input size (the algorithm not chosen yet).
  Status Describe(const Conv2dDims& d, Plan* plan) const {
    const Window2d& win = config.window;
    const cudnnTensorFormat_t format = CUDNN_TENSOR_NHWC;
    const cudnnDataType_t type = CUDNN_DATA_BFLOAT16;
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&plan->x));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&plan->y));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&plan->conv));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(
        plan->x, format, type, static_cast<int>(d.batch), static_cast<int>(d.channels),
        static_cast<int>(d.height), static_cast<int>(d.width)));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(
        plan->y, format, type, static_cast<int>(d.batch), static_cast<int>(d.out_channels),
        static_cast<int>(d.out_height), static_cast<int>(d.out_width)));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetConvolution2dDescriptor(
        plan->conv, static_cast<int>(win.pad_top), static_cast<int>(win.pad_left),
        static_cast<int>(win.stride_h), static_cast<int>(win.stride_w),
        static_cast<int>(win.dilation_h), static_cast<int>(win.dilation_w), CUDNN_CROSS_CORRELATION,
        CUDNN_DATA_FLOAT));
    OCTET_CUDNN_RETURN_IF_ERROR(
        cudnnSetConvolutionGroupCount(plan->conv, static_cast<int>(config.groups)));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(plan->conv, CUDNN_TENSOR_OP_MATH));
    int n = 0, c = 0, h = 0, w_out = 0;
    OCTET_CUDNN_RETURN_IF_ERROR(
        cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, w, &n, &c, &h, &w_out));
    if (c != d.out_channels || h != d.out_height || w_out != d.out_width)
      return InvalidArgument("CudnnConv: output [", d.batch, ", ", d.out_channels, ", ",
                             d.out_height, ", ", d.out_width, "] is not cuDNN's [", n, ", ", c,
                             ", ", h, ", ", w_out, "]");
    return Status::Ok();
  }

  std::string DimsText(const Conv2dDims& d) const {
    return "[" + std::to_string(d.batch) + ", " + std::to_string(d.channels) + ", " +
           std::to_string(d.height) + ", " + std::to_string(d.width) + "] -> " +
           std::to_string(d.out_channels) + " channels, " + std::to_string(config.window.kernel_h) +
           "x" + std::to_string(config.window.kernel_w) + " window";
  }

  Expected<std::shared_ptr<const Plan>> PlanFor(const Conv2dDims& d, size_t workspace_bytes) {
    const PlanKey key{d.batch,      d.channels,  d.height,       d.width,
                      d.out_height, d.out_width, workspace_bytes};
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = plans.find(key); it != plans.end()) return it->second;
    auto plan = std::make_shared<Plan>();
    OCTET_RETURN_IF_ERROR(Describe(d, plan.get()));
    int max_count = 0, returned = 0;
    OCTET_CUDNN_RETURN_IF_ERROR(
        cudnnGetConvolutionForwardAlgorithmMaxCount(handle->handle, &max_count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
    {
      std::lock_guard<std::mutex> handle_lock(handle->mutex);
      OCTET_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionForwardAlgorithm_v7(
          handle->handle, plan->x, w, plan->conv, plan->y, static_cast<int>(perf.size()), &returned,
          perf.data()));
    }
    // The heuristic's ranking, best first: the first that runs in the workspace.
    const cudnnConvolutionFwdAlgoPerf_t* chosen = nullptr;
    for (int i = 0; i < returned && chosen == nullptr; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= workspace_bytes)
        chosen = &perf[i];
    if (chosen == nullptr)
      return Unimplemented("CudnnConv: cuDNN has no algorithm for ", DimsText(d), " within ",
                           workspace_bytes, " bytes of workspace");
    plan->algo = chosen->algo;
    plan->math = chosen->mathType;
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(plan->conv, plan->math));
    std::shared_ptr<const Plan> done = std::move(plan);
    plans.emplace(key, done);
    return done;
  }
};

bool CudnnConv::Built() { return true; }

int64_t CudnnConv::LoadedVersion() { return static_cast<int64_t>(cudnnGetVersion()); }

Expected<CudnnConv> CudnnConv::Create(const CudnnConvConfig& config) {
  std::string reason;
  if (!DeviceAvailable(&reason)) return NotFound("CudnnConv: no CUDA device: ", reason);
  const Window2d& win = config.window;
  if (config.weights == nullptr || config.groups <= 0 || config.out_channels <= 0 ||
      config.channels_per_group <= 0 || config.out_channels % config.groups != 0 ||
      !FitsInt(config.out_channels) || !FitsInt(config.channels_per_group) ||
      !FitsInt(win.kernel_h) || !FitsInt(win.kernel_w))
    return InvalidArgument("CudnnConv: bad weights [", config.out_channels, ", ",
                           config.channels_per_group, ", ", win.kernel_h, ", ", win.kernel_w,
                           "] in ", config.groups, " groups");
  if (win.pad_top != win.pad_bottom || win.pad_left != win.pad_right)
    return Unimplemented("CudnnConv: cuDNN takes symmetric pads, got [top ", win.pad_top, ", left ",
                         win.pad_left, ", bottom ", win.pad_bottom, ", right ", win.pad_right, "]");
  auto impl = std::make_shared<Impl>();
  impl->config = config;
  OCTET_ASSIGN_OR_RETURN(impl->handle, HandleForCurrentDevice());
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&impl->w));
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetFilter4dDescriptor(
      impl->w, CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NHWC, static_cast<int>(config.out_channels),
      static_cast<int>(config.channels_per_group), static_cast<int>(win.kernel_h),
      static_cast<int>(win.kernel_w)));
  CudnnConv conv;
  conv.impl_ = std::move(impl);
  return conv;
}

Status CudnnConv::Run(const Conv2dDims& d, const void* x, void* y, void* workspace,
                      size_t workspace_bytes, cudaStream_t stream) const {
  Impl& impl = *impl_;
  OCTET_RETURN_IF_ERROR(impl.CheckDims(d));
  if (d.batch == 0 || d.out_height == 0 || d.out_width == 0) return Status::Ok();
  if (x == nullptr || y == nullptr) return InvalidArgument("CudnnConv: null x or y");
  if (workspace == nullptr) workspace_bytes = 0;
  OCTET_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, impl.PlanFor(d, workspace_bytes));
  const float one = 1.f, zero = 0.f;
  std::lock_guard<std::mutex> lock(impl.handle->mutex);
  cudnnHandle_t h = impl.handle->handle;
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetStream(h, stream));
  OCTET_CUDNN_RETURN_IF_ERROR(
      cudnnConvolutionForward(h, &one, plan->x, x, impl.w, impl.config.weights, plan->conv,
                              plan->algo, workspace, workspace_bytes, &zero, plan->y, y));
  return Status::Ok();
}

Expected<std::string> CudnnConv::AlgorithmFor(const Conv2dDims& d, size_t workspace_bytes) const {
  OCTET_RETURN_IF_ERROR(impl_->CheckDims(d));
  OCTET_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, impl_->PlanFor(d, workspace_bytes));
  return AlgoText(plan->algo, plan->math);
}

Expected<std::vector<CudnnAlgoTime>> CudnnConv::MeasureAlgorithms(const Conv2dDims& d,
                                                                  const void* x, void* y,
                                                                  void* workspace,
                                                                  size_t workspace_bytes) const {
  Impl& impl = *impl_;
  OCTET_RETURN_IF_ERROR(impl.CheckDims(d));
  if (x == nullptr || y == nullptr) return InvalidArgument("CudnnConv: null x or y");
  if (workspace == nullptr) workspace_bytes = 0;
  Plan plan;
  OCTET_RETURN_IF_ERROR(impl.Describe(d, &plan));
  int max_count = 0, returned = 0;
  OCTET_CUDNN_RETURN_IF_ERROR(
      cudnnGetConvolutionForwardAlgorithmMaxCount(impl.handle->handle, &max_count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
  {
    std::lock_guard<std::mutex> lock(impl.handle->mutex);
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetStream(impl.handle->handle, nullptr));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnFindConvolutionForwardAlgorithmEx(
        impl.handle->handle, plan.x, x, impl.w, impl.config.weights, plan.conv, plan.y, y,
        static_cast<int>(perf.size()), &returned, perf.data(), workspace, workspace_bytes));
  }
  std::vector<CudnnAlgoTime> times;
  for (int i = 0; i < returned; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= workspace_bytes)
      times.push_back({static_cast<int>(perf[i].algo), AlgoText(perf[i].algo, perf[i].mathType),
                       perf[i].time, perf[i].memory});
  std::sort(times.begin(), times.end(),
            [](const CudnnAlgoTime& a, const CudnnAlgoTime& b) { return a.ms < b.ms; });
  if (times.empty())
    return Unimplemented("CudnnConv: cuDNN ran no algorithm for ", impl.DimsText(d), " within ",
                         workspace_bytes, " bytes of workspace");
  return times;
}

}  // namespace octet::cuda
