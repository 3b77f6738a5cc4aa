// CublasLtGemm (cublaslt_gemm.h). cuBLASLt is column-major: the row-major
// C[m, n] = A[m, k] W[n, k]^T is computed as the column-major
// C^T[n, m] = (W^T)^T[n, k] A^T[k, m], that is with W as the transposed first
// operand (a [k, n] column-major matrix, ld k) and A as the second ([k, m],
// ld k): the "TN" form, the one cuBLASLt's int8 tensor-core kernels need.
#include "octet/cuda/cublaslt_gemm.h"

#include <cublasLt.h>

#include <sstream>

#include "octet/cuda/cuda_status.h"
#include "octet/cuda/device_buffer.h"

namespace octet::cuda {

struct CublasLtGemm::Impl {
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t w_layout = nullptr, a_layout = nullptr, c_layout = nullptr;
  cublasLtMatmulAlgo_t algo{};
  DeviceBuffer workspace;
  bool int8 = false;
  std::string description;

  ~Impl() {
    if (c_layout != nullptr) (void)cublasLtMatrixLayoutDestroy(c_layout);
    if (a_layout != nullptr) (void)cublasLtMatrixLayoutDestroy(a_layout);
    if (w_layout != nullptr) (void)cublasLtMatrixLayoutDestroy(w_layout);
    if (op != nullptr) (void)cublasLtMatmulDescDestroy(op);
    if (handle != nullptr) (void)cublasLtDestroy(handle);
  }
};

namespace {

std::string Describe(const CublasLtGemmConfig& c) {
  const char* t = c.type == CublasLtGemmType::kInt8Int32 ? "i8" : "bf16";
  std::ostringstream os;
  os << "cuBLASLt " << t << "[" << c.m << "," << c.k << "] x " << t << "[" << c.n << "," << c.k
     << "]^T";
  if (c.bias != nullptr) os << " + bias";
  if (c.activation == Activation::kGeluErf) os << " -> gelu";
  os << (c.type == CublasLtGemmType::kInt8Int32 ? " -> i32" : " -> bf16");
  return os.str();
}

Status Validate(const CublasLtGemmConfig& c, const std::string& what) {
  if (c.m <= 0 || c.n <= 0 || c.k <= 0) return InvalidArgument(what, ": empty problem");
  if (c.type == CublasLtGemmType::kInt8Int32) {
    if (c.k % 4 != 0 || c.n % 4 != 0)
      return InvalidArgument(what, ": the int8 GEMM needs K and N multiples of 4 (cuBLASLt's ",
                             "int8 kernels need leading dimensions that are)");
    if (c.bias != nullptr || c.activation != Activation::kNone)
      return InvalidArgument(what, ": bias and activation are for the bf16 GEMM only");
  }
  if (c.activation == Activation::kRelu)
    return InvalidArgument(what, ": no ReLU epilogue here (none or GELU)");
  return Status::Ok();
}

}  // namespace

Expected<CublasLtGemm> CublasLtGemm::Create(const CublasLtGemmConfig& config) {
  const std::string what = Describe(config);
  OCTET_RETURN_IF_ERROR(Validate(config, what));
  auto impl = std::make_shared<Impl>();
  impl->description = what;
  impl->int8 = config.type == CublasLtGemmType::kInt8Int32;
  const uint64_t m = config.m, n = config.n, k = config.k;

  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&impl->handle));
  const cublasComputeType_t compute = impl->int8 ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F;
  const cudaDataType_t scale_type = impl->int8 ? CUDA_R_32I : CUDA_R_32F;
  const cudaDataType_t in_type = impl->int8 ? CUDA_R_8I : CUDA_R_16BF;
  const cudaDataType_t out_type = impl->int8 ? CUDA_R_32I : CUDA_R_16BF;
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&impl->op, compute, scale_type));
  const cublasOperation_t transpose = CUBLAS_OP_T, keep = CUBLAS_OP_N;
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(impl->op, CUBLASLT_MATMUL_DESC_TRANSA,
                                                              &transpose, sizeof(transpose)));
  OCTET_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(impl->op, CUBLASLT_MATMUL_DESC_TRANSB, &keep, sizeof(keep)));
  if (!impl->int8 && (config.bias != nullptr || config.activation != Activation::kNone)) {
    const bool gelu = config.activation == Activation::kGeluErf;
    const cublasLtEpilogue_t epilogue =
        config.bias != nullptr ? (gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                               : CUBLASLT_EPILOGUE_GELU;
    OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
        impl->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    if (config.bias != nullptr)
      OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
          impl->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &config.bias, sizeof(config.bias)));
  }
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&impl->w_layout, in_type, k, n, k));
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&impl->a_layout, in_type, k, m, k));
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&impl->c_layout, out_type, n, m, n));

  OCTET_ASSIGN_OR_RETURN(impl->workspace, DeviceBuffer::Allocate(config.workspace_bytes));
  cublasLtMatmulPreference_t preference = nullptr;
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&preference));
  const size_t workspace_bytes = config.workspace_bytes;
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  cublasStatus_t status =
      cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                           &workspace_bytes, sizeof(workspace_bytes));
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulAlgoGetHeuristic(impl->handle, impl->op, impl->w_layout, impl->a_layout,
                                            impl->c_layout, impl->c_layout, preference, 1,
                                            &heuristic, &found);
  (void)cublasLtMatmulPreferenceDestroy(preference);
  if (status != CUBLAS_STATUS_SUCCESS)
    return CublasCallStatus(status, "cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__)
        .WithContext(what);
  if (found == 0) return Unimplemented(what, ": cuBLASLt has no algorithm for this problem");
  impl->algo = heuristic.algo;

  CublasLtGemm gemm;
  gemm.impl_ = std::move(impl);
  return gemm;
}

Status CublasLtGemm::Run(const void* a, const void* w, void* c, cudaStream_t stream) const {
  const Impl& impl = *impl_;
  if (a == nullptr || w == nullptr || c == nullptr)
    return InvalidArgument(impl.description, ": null a, w or c");
  const int32_t one_i = 1, zero_i = 0;
  const float one_f = 1.f, zero_f = 0.f;
  const void* alpha = impl.int8 ? static_cast<const void*>(&one_i) : &one_f;
  const void* beta = impl.int8 ? static_cast<const void*>(&zero_i) : &zero_f;
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(
      impl.handle, impl.op, alpha, w, impl.w_layout, a, impl.a_layout, beta, c, impl.c_layout, c,
      impl.c_layout, &impl.algo, impl.workspace.data(), impl.workspace.bytes(), stream));
  return Status::Ok();
}

const std::string& CublasLtGemm::description() const { return impl_->description; }

}  // namespace octet::cuda
