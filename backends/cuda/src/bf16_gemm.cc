// Bf16Gemm (bf16_gemm.h).
#include "octet/cuda/bf16_gemm.h"

#include <cublasLt.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "octet/cuda/cuda_status.h"
#include "octet/cuda/device.h"

namespace octet::cuda {
namespace {

// The layouts and algorithm of one problem size.
struct Plan {
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool found = false;
  ~Plan() {
    if (c != nullptr) (void)cublasLtMatrixLayoutDestroy(c);
    if (b != nullptr) (void)cublasLtMatrixLayoutDestroy(b);
    if (a != nullptr) (void)cublasLtMatrixLayoutDestroy(a);
  }
};

using PlanKey = std::tuple<int64_t, int64_t, int64_t, bool, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t, int64_t, uint32_t, uint32_t, uint32_t, size_t>;

// The largest power of two (at most 256) dividing the address of every
// batch's matrix.
uint32_t Alignment(const void* p, int64_t stride_elements, int64_t element_bytes) {
  uint64_t bits = reinterpret_cast<uintptr_t>(p) |
                  static_cast<uint64_t>(stride_elements * element_bytes) | uint64_t{256};
  return static_cast<uint32_t>(bits & (~bits + 1));
}

Status SetBatch(cublasLtMatrixLayout_t layout, int64_t batch, int64_t stride) {
  const int32_t count = static_cast<int32_t>(batch);
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutSetAttribute(
      layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutSetAttribute(
      layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  return Status::Ok();
}

}  // namespace

struct Bf16Gemm::Impl {
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t op_n = nullptr, op_t = nullptr;  // A kept / transposed
  bool accumulate = false;
  std::mutex mutex;
  std::map<PlanKey, std::shared_ptr<const Plan>> plans;

  ~Impl() {
    if (op_t != nullptr) (void)cublasLtMatmulDescDestroy(op_t);
    if (op_n != nullptr) (void)cublasLtMatmulDescDestroy(op_n);
    if (handle != nullptr) (void)cublasLtDestroy(handle);
  }

  Expected<std::shared_ptr<const Plan>> PlanFor(const Bf16GemmShape& s, const PlanKey& key,
                                                uint32_t align_a, uint32_t align_b,
                                                uint32_t align_c, size_t workspace_bytes) {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = plans.find(key); it != plans.end()) return it->second;
    auto plan = std::make_shared<Plan>();
    const uint64_t a_rows = s.trans_a ? s.k : s.m, a_cols = s.trans_a ? s.m : s.k;
    OCTET_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_16BF, a_rows, a_cols, s.lda));
    OCTET_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_16BF, s.k, s.n, s.ldb));
    OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&plan->c, CUDA_R_32F, s.m, s.n, s.ldc));
    if (s.batch > 1) {
      OCTET_RETURN_IF_ERROR(SetBatch(plan->a, s.batch, s.stride_a));
      OCTET_RETURN_IF_ERROR(SetBatch(plan->b, s.batch, s.stride_b));
      OCTET_RETURN_IF_ERROR(SetBatch(plan->c, s.batch, s.stride_c));
    }
    cublasLtMatmulPreference_t preference = nullptr;
    OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&preference));
    cublasStatus_t status =
        cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &workspace_bytes, sizeof(workspace_bytes));
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_c},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_c}};
    for (const auto& [attr, value] : aligns)
      if (status == CUBLAS_STATUS_SUCCESS)
        status = cublasLtMatmulPreferenceSetAttribute(preference, attr, &value, sizeof(value));
    cublasLtMatmulHeuristicResult_t heuristic{};
    int found = 0;
    if (status == CUBLAS_STATUS_SUCCESS)
      status = cublasLtMatmulAlgoGetHeuristic(handle, s.trans_a ? op_t : op_n, plan->a, plan->b,
                                              plan->c, plan->c, preference, 1, &heuristic, &found);
    (void)cublasLtMatmulPreferenceDestroy(preference);
    if (status != CUBLAS_STATUS_SUCCESS)
      return CublasCallStatus(status, "cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__);
    if (found == 0)
      return Unimplemented("cuBLASLt has no bf16 algorithm for m ", s.m, " n ", s.n, " k ", s.k,
                           " batch ", s.batch);
    plan->algo = heuristic.algo;
    plan->found = true;
    std::shared_ptr<const Plan> done = std::move(plan);
    plans.emplace(key, done);
    return done;
  }
};

Expected<Bf16Gemm> Bf16Gemm::Create(const Bf16GemmConfig& config) {
  std::string reason;
  if (!DeviceAvailable(&reason)) return NotFound("Bf16Gemm: no CUDA device: ", reason);
  auto impl = std::make_shared<Impl>();
  impl->accumulate = config.accumulate;
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&impl->handle));
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  if (config.bias != nullptr)
    epilogue = config.relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
  else if (config.relu)
    epilogue = CUBLASLT_EPILOGUE_RELU;
  for (bool transpose : {false, true}) {
    cublasLtMatmulDesc_t& op = transpose ? impl->op_t : impl->op_n;
    OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = transpose ? CUBLAS_OP_T : CUBLAS_OP_N, tb = CUBLAS_OP_N;
    OCTET_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    OCTET_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                                &epilogue, sizeof(epilogue)));
    if (config.bias != nullptr) {
      const cudaDataType_t bias_type = CUDA_R_32F;
      OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
          op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type)));
      OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
          op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &config.bias, sizeof(config.bias)));
    }
  }
  Bf16Gemm gemm;
  gemm.impl_ = std::move(impl);
  return gemm;
}

Status Bf16Gemm::Run(const Bf16GemmShape& s, const void* a, const void* b, const float* c, float* d,
                     void* workspace, size_t workspace_bytes, cudaStream_t stream) const {
  if (s.m < 0 || s.n < 0 || s.k <= 0 || s.batch < 0)
    return InvalidArgument("Bf16Gemm: bad problem m ", s.m, " n ", s.n, " k ", s.k, " batch ",
                           s.batch);
  if (s.m == 0 || s.n == 0 || s.batch == 0) return Status::Ok();
  if (s.lda < (s.trans_a ? s.k : s.m) || s.ldb < s.k || s.ldc < s.m)
    return InvalidArgument("Bf16Gemm: leading dimensions ", s.lda, ", ", s.ldb, ", ", s.ldc,
                           " too small for m ", s.m, " n ", s.n, " k ", s.k);
  if (a == nullptr || b == nullptr || d == nullptr || (impl_->accumulate && c == nullptr))
    return InvalidArgument("Bf16Gemm: null operand");
  if (workspace == nullptr) workspace_bytes = 0;
  const uint32_t align_a = Alignment(a, s.stride_a, 2), align_b = Alignment(b, s.stride_b, 2);
  uint32_t align_c = Alignment(d, s.stride_c, 4);
  if (impl_->accumulate) align_c = std::min(align_c, Alignment(c, s.stride_c, 4));
  const PlanKey key{s.m,        s.n,     s.k,     s.trans_a,  s.lda,
                    s.ldb,      s.ldc,   s.batch, s.stride_a, s.stride_b,
                    s.stride_c, align_a, align_b, align_c,    workspace_bytes};
  OCTET_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan,
                         impl_->PlanFor(s, key, align_a, align_b, align_c, workspace_bytes));
  const float one = 1.f, zero = 0.f;
  const float* beta = impl_->accumulate ? &one : &zero;
  const float* c_in = impl_->accumulate ? c : d;
  OCTET_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(
      impl_->handle, s.trans_a ? impl_->op_t : impl_->op_n, &one, a, plan->a, b, plan->b, beta,
      c_in, plan->c, d, plan->c, &plan->algo, workspace, workspace_bytes, stream));
  return Status::Ok();
}

}  // namespace octet::cuda
