// CudnnConv (cudnn_conv.h) on cuDNN's convolution API: cudnnConvolutionForward
// and cudnnConvolutionBiasActivationForward. cuDNN 9 marks that API
// deprecated in favour of its graph API, and still ships and supports it
// through 9.x; it is what takes f32 NCHW with bias + residual + relu in one
// call. The graph API (bf16 NHWC with runtime fusion) is the next step, listed
// in docs/cuda-backend.md.
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
#include "octet/cuda/device_buffer.h"

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

#define OCTET_CUDNN_RETURN_IF_ERROR(call)                                         \
  do {                                                                            \
    const cudnnStatus_t _octet_cudnn_status = (call);                             \
    if (_octet_cudnn_status != CUDNN_STATUS_SUCCESS)                              \
      return CudnnCallStatus(_octet_cudnn_status, #call, __FILE__, __LINE__);     \
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
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return "WINOGRAD_NONFUSED";
    default: return "?";
  }
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
  cudnnTensorDescriptor_t bias = nullptr;  // [1, O, 1, 1]
  cudnnActivationDescriptor_t relu = nullptr, identity = nullptr;
  // The fused call always adds a bias: zeros when the convolution has none.
  DeviceBuffer zero_bias;
  std::mutex mutex;
  std::map<PlanKey, std::shared_ptr<const Plan>> plans;

  ~Impl() {
    if (identity != nullptr) (void)cudnnDestroyActivationDescriptor(identity);
    if (relu != nullptr) (void)cudnnDestroyActivationDescriptor(relu);
    if (bias != nullptr) (void)cudnnDestroyTensorDescriptor(bias);
    if (w != nullptr) (void)cudnnDestroyFilterDescriptor(w);
  }

  Status CheckDims(const Conv2dDims& d) const {
    const Window2d& win = config.window;
    if (d.out_channels != config.out_channels ||
        d.channels != config.channels_per_group * config.groups)
      return InvalidArgument("CudnnConv: input of ", d.channels, " channels -> ", d.out_channels,
                             " does not fit the weights [", config.out_channels, ", ",
                             config.channels_per_group, ", ", win.kernel_h, ", ", win.kernel_w,
                             "] in ", config.groups, " groups");
    for (int64_t v : {d.batch, d.channels, d.height, d.width, d.out_height, d.out_width,
                      d.batch * d.channels * d.height * d.width,
                      d.batch * d.out_channels * d.out_height * d.out_width})
      if (!FitsInt(v))
        return Unimplemented("CudnnConv: cuDNN's convolution takes tensors of fewer than 2^31 ",
                             "elements, got [", d.batch, ", ", d.channels, ", ", d.height, ", ",
                             d.width, "] -> [", d.batch, ", ", d.out_channels, ", ",
                             d.out_height, ", ", d.out_width, "]");
    return Status::Ok();
  }

  Expected<std::shared_ptr<const Plan>> PlanFor(const Conv2dDims& d, size_t workspace_bytes) {
    const PlanKey key{d.batch, d.channels, d.height, d.width, d.out_height, d.out_width,
                      workspace_bytes};
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = plans.find(key); it != plans.end()) return it->second;
    const Window2d& win = config.window;
    auto plan = std::make_shared<Plan>();
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&plan->x));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&plan->y));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&plan->conv));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(
        plan->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(d.batch),
        static_cast<int>(d.channels), static_cast<int>(d.height), static_cast<int>(d.width)));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(
        plan->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, static_cast<int>(d.batch),
        static_cast<int>(d.out_channels), static_cast<int>(d.out_height),
        static_cast<int>(d.out_width)));
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetConvolution2dDescriptor(
        plan->conv, static_cast<int>(win.pad_top), static_cast<int>(win.pad_left),
        static_cast<int>(win.stride_h), static_cast<int>(win.stride_w),
        static_cast<int>(win.dilation_h), static_cast<int>(win.dilation_w),
        CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    OCTET_CUDNN_RETURN_IF_ERROR(
        cudnnSetConvolutionGroupCount(plan->conv, static_cast<int>(config.groups)));
    // Tensor cores allowed: TF32 for f32 data.
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(plan->conv, CUDNN_TENSOR_OP_MATH));
    int n = 0, c = 0, h = 0, w_out = 0;
    OCTET_CUDNN_RETURN_IF_ERROR(
        cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, w, &n, &c, &h, &w_out));
    if (c != d.out_channels || h != d.out_height || w_out != d.out_width)
      return InvalidArgument("CudnnConv: output [", d.batch, ", ", d.out_channels, ", ",
                             d.out_height, ", ", d.out_width, "] is not cuDNN's [", n, ", ", c,
                             ", ", h, ", ", w_out, "] (pads must be symmetric)");
    int max_count = 0, returned = 0;
    OCTET_CUDNN_RETURN_IF_ERROR(
        cudnnGetConvolutionForwardAlgorithmMaxCount(handle->handle, &max_count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
    {
      std::lock_guard<std::mutex> handle_lock(handle->mutex);
      OCTET_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionForwardAlgorithm_v7(
          handle->handle, plan->x, w, plan->conv, plan->y, static_cast<int>(perf.size()),
          &returned, perf.data()));
    }
    // The heuristic's ranking, best first: the first that runs in the workspace.
    const cudnnConvolutionFwdAlgoPerf_t* chosen = nullptr;
    for (int i = 0; i < returned && chosen == nullptr; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= workspace_bytes)
        chosen = &perf[i];
    if (chosen == nullptr)
      return Unimplemented("CudnnConv: cuDNN has no algorithm for [", d.batch, ", ", d.channels,
                           ", ", d.height, ", ", d.width, "] -> ", d.out_channels, " channels, ",
                           win.kernel_h, "x", win.kernel_w, " window within ", workspace_bytes,
                           " bytes of workspace");
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
    return Unimplemented("CudnnConv: cuDNN takes symmetric pads, got [top ", win.pad_top,
                         ", left ", win.pad_left, ", bottom ", win.pad_bottom, ", right ",
                         win.pad_right, "]");
  auto impl = std::make_shared<Impl>();
  impl->config = config;
  OCTET_ASSIGN_OR_RETURN(impl->handle, HandleForCurrentDevice());
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&impl->w));
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetFilter4dDescriptor(
      impl->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, static_cast<int>(config.out_channels),
      static_cast<int>(config.channels_per_group), static_cast<int>(win.kernel_h),
      static_cast<int>(win.kernel_w)));
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&impl->bias));
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetTensor4dDescriptor(
      impl->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, static_cast<int>(config.out_channels),
      1, 1));
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&impl->relu));
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetActivationDescriptor(impl->relu, CUDNN_ACTIVATION_RELU,
                                                           CUDNN_PROPAGATE_NAN, 0.0));
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&impl->identity));
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetActivationDescriptor(
      impl->identity, CUDNN_ACTIVATION_IDENTITY, CUDNN_PROPAGATE_NAN, 0.0));
  if (config.bias == nullptr) {
    const std::vector<float> zeros(static_cast<size_t>(config.out_channels), 0.f);
    OCTET_ASSIGN_OR_RETURN(impl->zero_bias,
                           DeviceBuffer::FromHost(zeros.data(), zeros.size() * sizeof(float)));
  }
  CudnnConv conv;
  conv.impl_ = std::move(impl);
  return conv;
}

Status CudnnConv::Run(const Conv2dDims& d, const float* x, const float* residual, float* y,
                      void* workspace, size_t workspace_bytes, cudaStream_t stream) const {
  Impl& impl = *impl_;
  OCTET_RETURN_IF_ERROR(impl.CheckDims(d));
  if (d.batch == 0 || d.out_height == 0 || d.out_width == 0) return Status::Ok();
  if (x == nullptr || y == nullptr) return InvalidArgument("CudnnConv: null x or y");
  if (workspace == nullptr) workspace_bytes = 0;
  OCTET_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, impl.PlanFor(d, workspace_bytes));
  const float one = 1.f, zero = 0.f;
  const CudnnConvConfig& c = impl.config;
  std::lock_guard<std::mutex> lock(impl.handle->mutex);
  cudnnHandle_t h = impl.handle->handle;
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnSetStream(h, stream));
  // The fused call takes relu with any algorithm, identity only with
  // IMPLICIT_PRECOMP_GEMM (cuDNN's rule); otherwise convolution, then the
  // residual as beta, then the bias.
  if (c.relu || plan->algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) {
    const float alpha2 = residual != nullptr ? 1.f : 0.f;
    const float* bias = c.bias != nullptr ? c.bias : impl.zero_bias.as<float>();
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnConvolutionBiasActivationForward(
        h, &one, plan->x, x, impl.w, c.weights, plan->conv, plan->algo, workspace,
        workspace_bytes, &alpha2, plan->y, residual != nullptr ? residual : y, impl.bias, bias,
        c.relu ? impl.relu : impl.identity, plan->y, y));
    return Status::Ok();
  }
  if (residual != nullptr && residual != y)
    OCTET_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
        y, residual,
        static_cast<size_t>(d.batch * d.out_channels * d.out_height * d.out_width) * sizeof(float),
        cudaMemcpyDeviceToDevice, stream));
  OCTET_CUDNN_RETURN_IF_ERROR(cudnnConvolutionForward(
      h, &one, plan->x, x, impl.w, c.weights, plan->conv, plan->algo, workspace, workspace_bytes,
      residual != nullptr ? &one : &zero, plan->y, y));
  if (c.bias != nullptr)
    OCTET_CUDNN_RETURN_IF_ERROR(cudnnAddTensor(h, &one, impl.bias, c.bias, &one, plan->y, y));
  return Status::Ok();
}

Expected<std::string> CudnnConv::AlgorithmFor(const Conv2dDims& d, size_t workspace_bytes) const {
  OCTET_RETURN_IF_ERROR(impl_->CheckDims(d));
  OCTET_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, impl_->PlanFor(d, workspace_bytes));
  return std::string(AlgoName(plan->algo)) +
         (plan->math == CUDNN_FMA_MATH ? ", fma" : ", tensor ops");
}

}  // namespace octet::cuda
