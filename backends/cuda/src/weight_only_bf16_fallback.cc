// Bf16FallbackGemm: the row-major C[m, n] = A[m, k] W[n, k]^T as cuBLASLt's
// column-major C^T = W A^T ("TN"), as in cublaslt_gemm.cc.
#include "weight_only_bf16_fallback.h"

#include "octet/cuda/cuda_status.h"

namespace octet::cuda::weight_only {

struct Bf16FallbackGemm::Impl {
  cublasLtHandle_t handle = nullptr;
  // By output type: bf16 (with the bf16 bias) and f32 (with the f32 bias).
  cublasLtMatmulDesc_t op_bf16 = nullptr, op_f32 = nullptr;
  cublasLtMatrixLayout_t w_layout = nullptr;
  int64_t n = 0, k = 0;

  ~Impl() {
    if (w_layout != nullptr) (void)cublasLtMatrixLayoutDestroy(w_layout);
    if (op_f32 != nullptr) (void)cublasLtMatmulDescDestroy(op_f32);
    if (op_bf16 != nullptr) (void)cublasLtMatmulDescDestroy(op_bf16);
    if (handle != nullptr) (void)cublasLtDestroy(handle);
  }
};

namespace {

// The m- and workspace-dependent descriptors of one Run, destroyed on every
// return path.
struct RunDescriptors {
  cublasLtMatrixLayout_t a = nullptr, c = nullptr;
  cublasLtMatmulPreference_t preference = nullptr;
  ~RunDescriptors() {
    if (preference != nullptr) (void)cublasLtMatmulPreferenceDestroy(preference);
    if (c != nullptr) (void)cublasLtMatrixLayoutDestroy(c);
    if (a != nullptr) (void)cublasLtMatrixLayoutDestroy(a);
  }
};

// The operation TN with the epilogue; `bias` is of the output's type (cuBLASLt's
// default bias type).
Status MakeOp(const void* bias, Activation activation, cublasLtMatmulDesc_t* op) {
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transpose = CUBLAS_OP_T, keep = CUBLAS_OP_N;
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(*op, CUBLASLT_MATMUL_DESC_TRANSA,
                                                              &transpose, sizeof(transpose)));
  OCTET_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(*op, CUBLASLT_MATMUL_DESC_TRANSB, &keep, sizeof(keep)));
  if (bias != nullptr || activation != Activation::kNone) {
    const bool gelu = activation == Activation::kGeluErf;
    const cublasLtEpilogue_t epilogue =
        bias != nullptr ? (gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                        : CUBLASLT_EPILOGUE_GELU;
    OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(*op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                                &epilogue, sizeof(epilogue)));
    if (bias != nullptr)
      OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
          *op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  }
  return Status::Ok();
}

}  // namespace

Expected<Bf16FallbackGemm> Bf16FallbackGemm::Create(int64_t n, int64_t k, const void* bias_bf16,
                                                    const float* bias_f32, Activation activation) {
  auto impl = std::make_shared<Impl>();
  impl->n = n;
  impl->k = k;
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&impl->handle));
  OCTET_RETURN_IF_ERROR(MakeOp(bias_bf16, activation, &impl->op_bf16));
  OCTET_RETURN_IF_ERROR(MakeOp(bias_f32, activation, &impl->op_f32));
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&impl->w_layout, CUDA_R_16BF, k, n, k));
  Bf16FallbackGemm gemm;
  gemm.impl_ = std::move(impl);
  return gemm;
}

Status Bf16FallbackGemm::Run(const void* x, int64_t m, const void* w, void* y, bool y_f32,
                             void* workspace, size_t workspace_bytes, cudaStream_t stream) const {
  const Impl& impl = *impl_;
  const cublasLtMatmulDesc_t op = y_f32 ? impl.op_f32 : impl.op_bf16;
  if (workspace == nullptr) workspace_bytes = 0;
  RunDescriptors d;
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&d.a, CUDA_R_16BF, impl.k, m, impl.k));
  OCTET_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatrixLayoutCreate(&d.c, y_f32 ? CUDA_R_32F : CUDA_R_16BF, impl.n, m, impl.n));
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&d.preference));
  OCTET_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulPreferenceSetAttribute(d.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                           &workspace_bytes, sizeof(workspace_bytes)));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulAlgoGetHeuristic(
      impl.handle, op, impl.w_layout, d.a, d.c, d.c, d.preference, 1, &heuristic, &found));
  if (found == 0)
    return Unimplemented("cuBLASLt has no bf16 algorithm for [", m, ",", impl.k, "] x [", impl.n,
                         ",", impl.k, "]^T");
  const float one = 1.f, zero = 0.f;
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(impl.handle, op, &one, w, impl.w_layout, x, d.a,
                                              &zero, y, d.c, y, d.c, &heuristic.algo, workspace,
                                              workspace_bytes, stream));
  return Status::Ok();
}

}  // namespace octet::cuda::weight_only
