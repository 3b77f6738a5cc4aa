// Not a test: the weight-only GEMMs (int4 group 128 or --group, and int8 per channel)
// beside cuBLASLt's bf16 GEMM at LLaMA-7B-like shapes, (N, K) = (4096, 4096),
// (11008, 4096), (4096, 11008), for M = 1, 4, 16, 128, 1024.
//
// Weights must come from device memory, not L2 (50 MB on the H100, which holds
// a 4096 x 4096 int4 matrix several times over): each kernel is timed rotating
// over enough independent copies of its weights to span twice the L2. Launches
// are captured in a CUDA graph and replayed, so that the host's launch rate
// does not bound microsecond kernels; each number is the median over 15
// replays of the per-launch time (cudaEvent). The device-to-device copy
// bandwidth (bytes read + written) is measured in the same run. "GB/s" is the
// packed weights' bytes (codes, scales, zero points; for bf16 the 2NK bytes)
// over the time; "%copy" relates it to the measured copy bandwidth. int4 runs
// with programmatic dependent launch (the default, programmatic_launch): in
// the replayed chain of launches each one streams its weights while the
// previous one finishes; the last column times the same kernels without it.
//
//   build/cuda_weight_only_bench            the table
//   build/cuda_weight_only_bench --sweep    and the floors (a plain read of the
//                                           int4 bytes, an empty kernel) and every
//                                           instantiated u4 kernel shape, with and
//                                           without PDL (--sweep-only: just those)
//   --rows=1,4,16 --sweep-rows=1,16 --int4-only   fewer rows / no int8 (short calls)
//   --shapes=NxK,NxK                      other (N, K) than the three above
//   --sweep-shapes=0,2,9                  only these u4 shapes in the sweep
//   --group=32|64|128                     the int4 group size of the table and
//                                           the sweep (128; at 64 and 32 the sweep
//                                           has the paths' shapes only)
//   build/cuda_weight_only_bench --tune     instead: TuneInt4Shape at each of
//                                           --rows that runs a u4 kernel (what
//                                           `octet compile --tune` stores), rule's
//                                           shape against the fastest
//   build/cuda_weight_only_bench --profile N K M SHAPE   five eager launches of
//                                           one u4 shape, for ncu
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuda_bench_util.h"
#include "octet/cuda/cublaslt_gemm.h"
#include "octet/cuda/cuda_status.h"
#include "octet/cuda/device.h"
#include "octet/cuda/device_buffer.h"
#include "octet/cuda/weight_only_gemm.h"
#include "weight_only_gemm_launch.h"  // the u4 shape sweep (--sweep)
#include "weight_only_pack.h"

namespace octet::cuda::bench {
cudaError_t LaunchEmptyKernel(cudaStream_t stream);
cudaError_t LaunchCopyKernel(const void* src, void* dst, size_t bytes, int blocks,
                             cudaStream_t stream);
cudaError_t LaunchReadKernel(const void* p, size_t bytes, uint32_t* sink, int blocks,
                             cudaStream_t stream);
cudaError_t LaunchReadStreamsKernel(const void* p, size_t bytes, bool interleaved, uint32_t* sink,
                                    int blocks, cudaStream_t stream);
}  // namespace octet::cuda::bench

namespace {

using namespace octet;
using namespace octet::cuda;
using namespace octet::cuda::bench;

// Median per-launch microseconds: `launches` calls of launch(i) captured in a
// graph, replayed 15 times after 3 warm-up replays.
double MedianMicros(cudaStream_t stream, int launches, const std::function<Status(int)>& launch) {
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CheckCuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "begin capture");
  for (int i = 0; i < launches; ++i) Check(launch(i), "captured launch");
  CheckCuda(cudaStreamEndCapture(stream, &graph), "end capture");
  CheckCuda(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  cudaEvent_t start, stop;
  CheckCuda(cudaEventCreate(&start), "cudaEventCreate");
  CheckCuda(cudaEventCreate(&stop), "cudaEventCreate");
  for (int i = 0; i < 3; ++i) CheckCuda(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
  std::vector<double> micros;
  for (int r = 0; r < 15; ++r) {
    CheckCuda(cudaEventRecord(start, stream), "cudaEventRecord");
    CheckCuda(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
    CheckCuda(cudaEventRecord(stop, stream), "cudaEventRecord");
    CheckCuda(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    CheckCuda(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    micros.push_back(1000.0 * ms / launches);
  }
  (void)cudaEventDestroy(start);
  (void)cudaEventDestroy(stop);
  (void)cudaGraphExecDestroy(exec);
  (void)cudaGraphDestroy(graph);
  std::sort(micros.begin(), micros.end());
  return micros[micros.size() / 2];
}

// Device-to-device copy bandwidth in GB/s, bytes read plus bytes written.
Status FromCuda(cudaError_t e, const char* what) {
  return e == cudaSuccess ? Status::Ok() : CudaCallStatus(e, what, __FILE__, __LINE__);
}

// The device-to-device copy bandwidth (bytes read + written) of 512 MB: the
// best of cudaMemcpyAsync and a plain copy kernel at 2, 4 and 8 blocks of 256
// threads per SM, each printed.
double CopyBandwidth(int sms, cudaStream_t stream) {
  const size_t bytes = size_t{512} << 20;
  DeviceBuffer src = Take(DeviceBuffer::Allocate(bytes), "alloc");
  DeviceBuffer dst = Take(DeviceBuffer::Allocate(bytes), "alloc");
  CheckCuda(cudaMemsetAsync(src.data(), 1, bytes, stream), "cudaMemsetAsync");
  auto gbs = [&](double us) { return 2.0 * bytes / (us * 1e-6) / 1e9; };
  double best = gbs(MedianMicros(stream, 4, [&](int) {
    OCTET_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice, stream));
    return Status::Ok();
  }));
  std::printf("device-to-device copy, cudaMemcpyAsync: %.0f GB/s (read + write)\n", best);
  for (int per_sm : {2, 4, 8}) {
    const double kernel = gbs(MedianMicros(stream, 4, [&](int) {
      return FromCuda(LaunchCopyKernel(src.data(), dst.data(), bytes, per_sm * sms, stream),
                      "copy");
    }));
    std::printf("device-to-device copy, copy kernel at %d blocks/SM: %.0f GB/s\n", per_sm, kernel);
    best = std::max(best, kernel);
  }
  return best;
}

// Random int4 (group `group`) or int8 codes as the presets produce them, [N, K].
WeightOnlyGemmConfig RandomConfig(int bits, int64_t n, int64_t k, std::mt19937& rng,
                                  int group = 128) {
  WeightOnlyGemmConfig c;
  c.weight_layout = WeightLayout::kNK;
  c.cublaslt_min_rows = 0;  // kernels only; cuBLASLt bf16 is timed on its own
  c.bias = Tensor(DType::kF32, {n});
  std::uniform_real_distribution<float> scale(0.001f, 0.01f);
  for (int64_t i = 0; i < n; ++i) c.bias.data<float>()[i] = scale(rng);
  if (bits == 4) {
    c.group_size = group;
    c.codes = Tensor(DType::kU4, {n, k});
    std::uniform_int_distribution<int> byte(0, 255);
    for (int64_t i = 0; i < c.codes.nbytes(); ++i)
      static_cast<uint8_t*>(c.codes.raw())[i] = static_cast<uint8_t>(byte(rng));
    c.scales = Tensor(DType::kF32, {n, k / group});
    c.zero_points = Tensor(DType::kU4, {n, k / group});
    for (int64_t i = 0; i < c.zero_points.nbytes(); ++i)
      static_cast<uint8_t*>(c.zero_points.raw())[i] = static_cast<uint8_t>(byte(rng));
  } else {
    c.codes = Tensor(DType::kI8, {n, k});
    std::uniform_int_distribution<int> code(-127, 127);
    for (int64_t i = 0; i < c.codes.numel(); ++i)
      c.codes.data<int8_t>()[i] = static_cast<int8_t>(code(rng));
    c.scales = Tensor(DType::kF32, {n});
  }
  for (int64_t i = 0; i < c.scales.numel(); ++i) c.scales.data<float>()[i] = scale(rng);
  return c;
}

// Copies of `bytes` each that together span twice the L2 (at least 2).
int CopiesFor(size_t bytes, size_t l2_bytes) {
  return static_cast<int>(std::max<size_t>(2, (2 * l2_bytes + bytes - 1) / bytes));
}

// The rows timed (--rows=1,4,16 narrows them) and the weight types
// (--int4-only drops int8), to fit a short device call; the int4 group size
// of the table and the sweep (--group=32|64|128).
std::vector<int64_t> kRows = {1, 4, 16, 32, 64, 128, 1024};
// The (N, K) shapes timed (--shapes=NxK,NxK narrows or replaces them).
std::vector<std::pair<int64_t, int64_t>> kShapes = {{4096, 4096}, {11008, 4096}, {4096, 11008}};
bool g_int4_only = false;
int g_group = 128;
constexpr WeightOnlyPath kKernelPaths[] = {
    WeightOnlyPath::kStreaming8, WeightOnlyPath::kStreaming16, WeightOnlyPath::kStreaming16x32,
    WeightOnlyPath::kTensorCore32};

void RunShape(int64_t n, int64_t k, double copy_gbs, size_t l2_bytes, cudaStream_t stream,
              std::mt19937& rng) {
  const int64_t max_m = 1024;
  DeviceBuffer x = RandomBf16(max_m * k, rng);
  DeviceBuffer y = Take(DeviceBuffer::Allocate(max_m * n * 2), "alloc");

  // cuBLASLt bf16, per m (it fixes m at Create), over rotating weight copies.
  const int bf16_copies = CopiesFor(n * k * 2, l2_bytes);
  std::vector<DeviceBuffer> w_bf16;
  for (int i = 0; i < bf16_copies; ++i) w_bf16.push_back(RandomBf16(n * k, rng));
  std::vector<double> bf16_us;
  for (int64_t m : kRows) {
    CublasLtGemmConfig lt;
    lt.m = m;
    lt.n = n;
    lt.k = k;
    lt.type = CublasLtGemmType::kBf16;
    const CublasLtGemm gemm = Take(CublasLtGemm::Create(lt), "cuBLASLt bf16");
    bf16_us.push_back(MedianMicros(stream, std::max(bf16_copies, 20), [&](int i) {
      return gemm.Run(x.data(), w_bf16[i % bf16_copies].data(), y.data(), stream);
    }));
  }
  w_bf16.clear();

  for (int bits : {4, 8}) {
    if (bits == 8 && g_int4_only) continue;
    const WeightOnlyGemmConfig config = RandomConfig(bits, n, k, rng, g_group);
    char weights[16];  // the table's weights column, 9 wide
    if (bits == 4)
      std::snprintf(weights, sizeof weights, "int4 g%-3d", g_group);
    else
      std::snprintf(weights, sizeof weights, "int8     ");
    std::vector<WeightOnlyGemm> gemms;
    gemms.push_back(Take(WeightOnlyGemm::Create(config), "WeightOnlyGemm"));
    const int copies = CopiesFor(gemms[0].packed_weight_bytes(), l2_bytes);
    while (static_cast<int>(gemms.size()) < copies)
      gemms.push_back(Take(WeightOnlyGemm::Create(config), "WeightOnlyGemm"));
    const double bytes = static_cast<double>(gemms[0].packed_weight_bytes());
    // u4: the same kernels launched without programmatic dependent launch
    // (each launch waits for the previous one to end before it starts).
    // The default cuBLASLt path from 33 rows on: the weights dequantized into
    // scratch by each Run, then cuBLASLt bf16 (no resident bf16 copy).
    std::vector<WeightOnlyGemm> dequantizing;
    WeightOnlyGemmConfig per_run = config;
    per_run.cublaslt_min_rows = 33;
    while (static_cast<int>(dequantizing.size()) < copies)
      dequantizing.push_back(Take(WeightOnlyGemm::Create(per_run), "WeightOnlyGemm"));
    DeviceBuffer scratch =
        Take(DeviceBuffer::Allocate(WeightOnlyGemm::MaxScratchBytes(n, k)), "alloc");
    const WeightOnlyScratch lend{scratch.data(), scratch.bytes()};
    std::vector<WeightOnlyGemm> isolated;
    if (bits == 4) {
      WeightOnlyGemmConfig plain = config;
      plain.programmatic_launch = false;
      while (static_cast<int>(isolated.size()) < copies)
        isolated.push_back(Take(WeightOnlyGemm::Create(plain), "WeightOnlyGemm"));
    }
    for (size_t mi = 0; mi < std::size(kRows); ++mi) {
      const int64_t m = kRows[mi];
      std::string variants;
      double auto_us = 0;
      for (WeightOnlyPath path : {WeightOnlyPath::kAuto, kKernelPaths[0], kKernelPaths[1],
                                  kKernelPaths[2], kKernelPaths[3]}) {
        if (path == WeightOnlyPath::kStreaming8 && m > 64) continue;  // 8-row tiles: slow there
        const double us = MedianMicros(stream, std::max(copies, 20), [&](int i) {
          return gemms[i % copies].Run(x.data(), m, y.data(), {}, stream, path);
        });
        if (path == WeightOnlyPath::kAuto) {
          auto_us = us;
        } else {
          char buf[32];
          std::snprintf(buf, sizeof(buf), "%s%.1f", variants.empty() ? "" : "/", us);
          variants += buf;
        }
      }
      if (m >= 33) {
        const double us = MedianMicros(stream, std::max(copies, 20), [&](int i) {
          return dequantizing[i % copies].Run(x.data(), m, y.data(), lend, stream,
                                              WeightOnlyPath::kCublasLtBf16);
        });
        char buf[32];
        std::snprintf(buf, sizeof(buf), "/dq+lt %.1f", us);
        variants += buf;
      }
      const double gbs = bytes / (auto_us * 1e-6) / 1e9;
      char plain[64] = "-";
      if (!isolated.empty()) {
        const double us = MedianMicros(stream, std::max(copies, 20), [&](int i) {
          return isolated[i % copies].Run(x.data(), m, y.data(), stream);
        });
        const double plain_gbs = bytes / (us * 1e-6) / 1e9;
        std::snprintf(plain, sizeof(plain), "%.1f us %.1f%% %.2fx", us,
                      100.0 * plain_gbs / copy_gbs, bf16_us[mi] / us);
      }
      std::printf(
          "| %5lld x %5lld | %4lld | %s | %-14s | %8.1f | %6.0f | %5.1f%% | %8.1f | %5.2fx | %s "
          "| %s |\n",
          static_cast<long long>(n), static_cast<long long>(k), static_cast<long long>(m), weights,
          WeightOnlyPathName(gemms[0].PathFor(m)), auto_us, gbs, 100.0 * gbs / copy_gbs,
          bf16_us[mi], bf16_us[mi] / auto_us, variants.c_str(), plain);
      std::fflush(stdout);
    }
  }
  for (size_t mi = 0; mi < std::size(kRows); ++mi) {
    const double gbs = 2.0 * n * k / (bf16_us[mi] * 1e-6) / 1e9;
    std::printf(
        "| %5lld x %5lld | %4lld | bf16      | cuBLASLt       | %8.1f | %6.0f | %5.1f%% |"
        "          |       |  |  |\n",
        static_cast<long long>(n), static_cast<long long>(k), static_cast<long long>(kRows[mi]),
        bf16_us[mi], gbs, 100.0 * gbs / copy_gbs);
  }
  std::fflush(stdout);
}

// The floors at this shape: a plain read of the int4 packed bytes (rotating
// over copies, like the kernels) and an empty kernel, per launch.
void Floors(int64_t n, int64_t k, double copy_gbs, size_t l2_bytes, int sms, cudaStream_t stream,
            std::mt19937& rng) {
  const WeightOnlyGemmConfig config = RandomConfig(4, n, k, rng);
  const weight_only::QuantizedWeightView view(config, n, k);
  const weight_only::PackedWeights packed = weight_only::Pack(view);
  const size_t bytes = packed.blocks.size() + packed.scales.size() * 4 + packed.zeros.size();
  const int copies = CopiesFor(bytes, l2_bytes);
  std::vector<DeviceBuffer> bufs;
  for (int i = 0; i < copies; ++i) bufs.push_back(Take(DeviceBuffer::Allocate(bytes), "alloc"));
  for (auto& b : bufs) CheckCuda(cudaMemsetAsync(b.data(), 1, bytes, stream), "memset");
  DeviceBuffer sink = Take(DeviceBuffer::Allocate(16), "alloc");
  for (int per_sm : {2, 4, 8}) {
    const double us = MedianMicros(stream, std::max(copies, 20), [&](int i) {
      return FromCuda(LaunchReadKernel(bufs[i % copies].data(), bytes,
                                       static_cast<uint32_t*>(sink.data()), per_sm * sms, stream),
                      "read kernel");
    });
    const double gbs = bytes / (us * 1e-6) / 1e9;
    std::printf(
        "floor %5lld x %5lld: read of the u4 packed %.2f MB, %d blocks/SM: %.1f us, %.0f "
        "GB/s, %.1f%% copy\n",
        static_cast<long long>(n), static_cast<long long>(k), bytes / 1e6, per_sm, us, gbs,
        100 * gbs / copy_gbs);
  }
  for (int interleaved = 0; interleaved < 2; ++interleaved)
    for (int per_sm : {2, 4}) {
      const double us = MedianMicros(stream, std::max(copies, 20), [&](int i) {
        return FromCuda(
            LaunchReadStreamsKernel(bufs[i % copies].data(), bytes, interleaved == 1,
                                    static_cast<uint32_t*>(sink.data()), per_sm * sms, stream),
            "read streams kernel");
      });
      const double gbs = bytes / (us * 1e-6) / 1e9;
      std::printf(
          "floor %5lld x %5lld: per-warp 1 KB item streams (%s), %d blocks of 8 warps/SM: "
          "%.1f us, %.0f GB/s, %.1f%% copy (read %.0f%% of the bytes)\n",
          static_cast<long long>(n), static_cast<long long>(k),
          interleaved ? "interleaved" : "contiguous", per_sm, us, gbs, 100 * gbs / copy_gbs,
          100.0 * (bytes / 1024 / (8 * per_sm * sms) / 4 * 4) * (8 * per_sm * sms) * 1024 / bytes);
    }
  const double empty_us =
      MedianMicros(stream, 20, [&](int) { return FromCuda(LaunchEmptyKernel(stream), "empty"); });
  std::printf("floor: empty kernel %.2f us per launch\n", empty_us);
  std::fflush(stdout);
}

std::vector<int64_t> kSweepRows = {1, 4, 16, 32, 128};
// --sweep-shapes=: only these shape indices (empty: every shape near each m).
std::vector<int64_t> kSweepShapes;

// Every instantiated u4 kernel shape at the table's group (--group: 128, or
// the path shapes only at 64 and 32), with and without
// programmatic dependent launch, its output checked against the first shape's.
void SweepInt4(int64_t n, int64_t k, double copy_gbs, size_t l2_bytes, cudaStream_t stream,
               std::mt19937& rng) {
  const WeightOnlyGemmConfig config = RandomConfig(4, n, k, rng, g_group);
  const weight_only::QuantizedWeightView view(config, n, k);
  const weight_only::PackedWeights packed = weight_only::Pack(view);
  const double bytes = packed.blocks.size() + packed.scales.size() * 4.0 + packed.zeros.size();
  const int copies = CopiesFor(static_cast<size_t>(bytes), l2_bytes);
  std::vector<DeviceBuffer> blocks, scales, zeros;
  for (int i = 0; i < copies; ++i) {
    blocks.push_back(
        Take(DeviceBuffer::FromHost(packed.blocks.data(), packed.blocks.size()), "up"));
    scales.push_back(
        Take(DeviceBuffer::FromHost(packed.scales.data(), packed.scales.size() * 4), "up"));
    zeros.push_back(Take(DeviceBuffer::FromHost(packed.zeros.data(), packed.zeros.size()), "up"));
  }
  const int64_t max_m = 128;
  DeviceBuffer x = RandomBf16(max_m * k, rng);
  DeviceBuffer y = Take(DeviceBuffer::Allocate(max_m * n * 2), "alloc");
  DeviceBuffer bias = Take(DeviceBuffer::FromHost(config.bias.raw(), n * 4), "up");
  auto args_for = [&](int i, int64_t m) {
    weight_only::GemmArgs a;
    a.x = x.data();
    a.packed = blocks[i].data();
    a.scales = scales[i].as<float>();
    a.zeros = zeros[i].as<uint8_t>();
    a.bias = bias.as<float>();
    a.y = y.data();
    a.m = static_cast<int>(m);
    a.n = static_cast<int>(n);
    a.k = static_cast<int>(k);
    a.n_pad = static_cast<int>(packed.n_pad);
    a.chunks = static_cast<int>(packed.chunks);
    return a;
  };
  for (int64_t m : kSweepRows) {
    std::vector<uint16_t> ref(static_cast<size_t>(m * n)), got(ref.size());
    double best = 1e30, best_pdl = 1e30;
    int best_shape = -1, best_shape_pdl = -1;
    for (int shape = 0; shape < WeightOnlyInt4KernelShapes(g_group); ++shape) {
      const weight_only::GemvShape sh = weight_only::GemvShapeAt(shape);
      if (kSweepShapes.empty()
              ? 8 * sh.nb < m / 4 || 8 * sh.nb > 2 * m + 8  // far from its m
              : std::find(kSweepShapes.begin(), kSweepShapes.end(), shape) == kSweepShapes.end())
        continue;
      const Status first = weight_only::LaunchInt4(shape, g_group, args_for(0, m), false, stream);
      if (!first.ok()) {
        std::printf("sweep %5lld x %5lld m %4lld shape %2d: %s\n", static_cast<long long>(n),
                    static_cast<long long>(k), static_cast<long long>(m), shape,
                    first.ToString().c_str());
        continue;
      }
      CheckCuda(cudaStreamSynchronize(stream), "sync");
      CheckCuda(cudaMemcpy(got.data(), y.data(), got.size() * 2, cudaMemcpyDeviceToHost), "dl");
      if (shape == 0 || best_shape < 0) ref = got;
      double max_ref = 0, max_diff = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(BFloat16ToFloat(ref[i]))));
        max_diff = std::max(max_diff, std::fabs(static_cast<double>(BFloat16ToFloat(ref[i])) -
                                                BFloat16ToFloat(got[i])));
      }
      double us[2];
      for (int pdl = 0; pdl < 2; ++pdl)
        us[pdl] = MedianMicros(stream, std::max(copies, 20), [&](int i) {
          return weight_only::LaunchInt4(shape, g_group, args_for(i % copies, m), pdl == 1, stream);
        });
      const double gbs = bytes / (us[0] * 1e-6) / 1e9, gbs_pdl = bytes / (us[1] * 1e-6) / 1e9;
      std::printf(
          "sweep %5lld x %5lld m %4lld shape %2d (nb %d tiles %d stages %d x %d warps %2d cw %d "
          "split %d): "
          "%7.1f us %5.0f GB/s %5.1f%% | pdl %7.1f us %5.0f GB/s %5.1f%% | diff %.2g of %.2g%s\n",
          static_cast<long long>(n), static_cast<long long>(k), static_cast<long long>(m), shape,
          sh.nb, sh.tiles, sh.stages, sh.x_stages, sh.warps, sh.col_warps,
          weight_only::GemvSplitFor(shape, args_for(0, m)), us[0], gbs, 100 * gbs / copy_gbs, us[1],
          gbs_pdl, 100 * gbs_pdl / copy_gbs, max_diff, max_ref,
          max_diff > max_ref / 64 ? " MISMATCH" : "");
      if (us[0] < best) best = us[0], best_shape = shape;
      if (us[1] < best_pdl) best_pdl = us[1], best_shape_pdl = shape;
    }
    const double gbs = bytes / (best * 1e-6) / 1e9, gbs_pdl = bytes / (best_pdl * 1e-6) / 1e9;
    std::printf(
        "best  %5lld x %5lld m %4lld: shape %2d %7.1f us %5.1f%% copy | pdl shape %2d "
        "%7.1f us %5.1f%% copy\n",
        static_cast<long long>(n), static_cast<long long>(k), static_cast<long long>(m), best_shape,
        best, 100 * gbs / copy_gbs, best_shape_pdl, best_pdl, 100 * gbs_pdl / copy_gbs);
    std::fflush(stdout);
  }
}

// --tune: WeightOnlyGemm::TuneInt4Shape at each of the table's rows that run
// a u4 kernel (what `octet compile --tune` stores in a module): the shape
// rule's choice and time against the fastest shape, same call.
void TuneInt4(int64_t n, int64_t k, std::mt19937& rng) {
  const WeightOnlyGemmConfig config = RandomConfig(4, n, k, rng, g_group);
  const WeightOnlyGemm gemm = Take(WeightOnlyGemm::Create(config), "create");
  for (int64_t m : kRows) {
    if (gemm.PathFor(m) == WeightOnlyPath::kCublasLtBf16) continue;
    const Int4ShapeTuning t = Take(gemm.TuneInt4Shape(m), "tune");
    double rule_us = 0, best_us = 0;
    std::string all;
    for (const Int4ShapeTiming& s : t.timings) {
      if (s.shape == t.rule_shape) rule_us = s.us;
      if (s.shape == t.best_shape) best_us = s.us;
      all += " " + std::to_string(s.shape) + (s.programmatic_launch ? "p" : "") + ":" +
             std::to_string(s.us).substr(0, std::to_string(s.us).find('.') + 2);
    }
    std::printf(
        "tune  %5lld x %5lld m %4lld group %d: rule shape %2d %6.1f us | tuned shape %2d %6.1f us "
        "(%+.1f%%) |%s\n",
        static_cast<long long>(n), static_cast<long long>(k), static_cast<long long>(m), g_group,
        t.rule_shape, rule_us, t.best_shape, best_us, 100 * (best_us - rule_us) / rule_us,
        all.c_str());
    std::fflush(stdout);
  }
}

// --profile N K M SHAPE: five eager launches of one u4 shape (group 128), for a
// profiler.
void ProfileOne(int64_t n, int64_t k, int64_t m, int shape, cudaStream_t stream) {
  std::mt19937 rng(7);
  const WeightOnlyGemmConfig config = RandomConfig(4, n, k, rng);
  const weight_only::QuantizedWeightView view(config, n, k);
  const weight_only::PackedWeights pk = weight_only::Pack(view);
  DeviceBuffer blocks = Take(DeviceBuffer::FromHost(pk.blocks.data(), pk.blocks.size()), "up");
  DeviceBuffer scales = Take(DeviceBuffer::FromHost(pk.scales.data(), pk.scales.size() * 4), "up");
  DeviceBuffer zeros = Take(DeviceBuffer::FromHost(pk.zeros.data(), pk.zeros.size()), "up");
  DeviceBuffer x = RandomBf16(m * k, rng);
  DeviceBuffer y = Take(DeviceBuffer::Allocate(m * n * 2), "alloc");
  weight_only::GemmArgs a;
  a.x = x.data();
  a.packed = blocks.data();
  a.scales = scales.as<float>();
  a.zeros = zeros.as<uint8_t>();
  a.y = y.data();
  a.m = static_cast<int>(m);
  a.n = static_cast<int>(n);
  a.k = static_cast<int>(k);
  a.n_pad = static_cast<int>(pk.n_pad);
  a.chunks = static_cast<int>(pk.chunks);
  for (int i = 0; i < 5; ++i)
    Check(weight_only::LaunchInt4(shape, 128, a, false, stream), "launch");
  CheckCuda(cudaStreamSynchronize(stream), "sync");
}

}  // namespace

// --sweep: also every u4 kernel shape (at --group), with and without
// programmatic dependent launch, and the floors (plain read, empty kernel).
int main(int argc, char** argv) {
  const bool sweep = argc > 1 && std::strcmp(argv[1], "--sweep") == 0;
  const bool sweep_only = argc > 1 && std::strcmp(argv[1], "--sweep-only") == 0;
  const bool tune_only = argc > 1 && std::strcmp(argv[1], "--tune") == 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--int4-only") == 0) g_int4_only = true;
    if (std::strncmp(argv[i], "--group=", 8) == 0) {
      g_group = std::atoi(argv[i] + 8);
      if (g_group != 32 && g_group != 64 && g_group != 128) {
        std::fprintf(stderr, "cuda_weight_only_bench: bad %s (32, 64 or 128)\n", argv[i]);
        return 2;
      }
    }
    if (std::strncmp(argv[i], "--shapes=", 9) == 0) {
      kShapes.clear();
      for (const char* at = argv[i] + 9; *at != 0;) {
        char* end = nullptr;
        const long long n = std::strtoll(at, &end, 10);
        const long long k = *end == 'x' ? std::strtoll(end + 1, &end, 10) : 0;
        // K a multiple of 128 (every group size) and both within int32.
        if (n < 1 || k < 128 || k % 128 != 0 || n >= (1ll << 31) || k >= (1ll << 31) ||
            (*end != ',' && *end != 0)) {
          std::fprintf(stderr,
                       "cuda_weight_only_bench: bad %s (NxK,NxK with K a multiple of 128)\n",
                       argv[i]);
          return 2;
        }
        kShapes.emplace_back(n, k);
        at = *end == ',' ? end + 1 : end;
      }
    }
    for (auto [flag, rows] : {std::pair{"--rows=", &kRows}, std::pair{"--sweep-rows=", &kSweepRows},
                              std::pair{"--sweep-shapes=", &kSweepShapes}})
      if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) {
        rows->clear();
        for (const char* at = argv[i] + std::strlen(flag); *at != 0;) {
          char* end = nullptr;
          const long long m = std::strtoll(at, &end, 10);
          const bool shapes = rows == &kSweepShapes;
          if (end == at || m < (shapes ? 0 : 1) ||
              m > (shapes           ? WeightOnlyInt4KernelShapes(128) - 1
                   : rows == &kRows ? 1024
                                    : 128)) {
            std::fprintf(stderr, "cuda_weight_only_bench: bad %s\n", argv[i]);
            return 2;
          }
          rows->push_back(m);
          at = *end == ',' ? end + 1 : end;
        }
      }
  }
  std::string reason;
  if (!DeviceAvailable(&reason)) {
    std::fprintf(stderr, "cuda_weight_only_bench: no CUDA device (%s)\n", reason.c_str());
    return 2;
  }
  const DeviceProperties device = Take(GetDeviceProperties(), "device");
  int runtime = 0, driver = 0;
  CheckCuda(cudaRuntimeGetVersion(&runtime), "cudaRuntimeGetVersion");
  CheckCuda(cudaDriverGetVersion(&driver), "cudaDriverGetVersion");
  const Stream stream = Take(Stream::Create(), "stream");
  if (argc == 6 && std::strcmp(argv[1], "--profile") == 0) {
    ProfileOne(std::atoll(argv[2]), std::atoll(argv[3]), std::atoll(argv[4]), std::atoi(argv[5]),
               stream.get());
    return 0;
  }
  const double copy_gbs = CopyBandwidth(device.sm_count, stream.get());
  std::printf("device: %s; CUDA runtime %d, driver %d; L2 %zu MiB\n", device.ToString().c_str(),
              runtime, driver, device.l2_cache_bytes >> 20);
  std::printf(
      "device-to-device copy: %.0f GB/s (read + write; the best of the above, %%copy's "
      "base)\n",
      copy_gbs);
  std::printf(
      "us = median per-launch time (graph replays, weights rotating over 2x L2); GB/s = packed "
      "weight bytes (codes + scales + zero points) / time; bf16 us = cuBLASLt bf16 at the same "
      "shape; variants = streaming8 (m <= 64) / streaming16 / streaming16x32 / tensorcore32 "
      "us, and from 33 rows dq+lt = the default cuBLASLt path (weights dequantized into scratch "
      "by each run, then cuBLASLt bf16)\n\n");
  std::printf(
      "| N x K | M | weights | path (auto) | us | GB/s | %%copy | bf16 us | vs bf16 | variants us "
      "| u4 without PDL |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::mt19937 rng(2026);
  if (tune_only) {
    for (auto [n, k] : kShapes) TuneInt4(n, k, rng);
    return 0;
  }
  if (!sweep_only)
    for (auto [n, k] : kShapes) RunShape(n, k, copy_gbs, device.l2_cache_bytes, stream.get(), rng);
  if (sweep || sweep_only) {
    for (auto [n, k] : kShapes)
      Floors(n, k, copy_gbs, device.l2_cache_bytes, device.sm_count, stream.get(), rng);
    for (auto [n, k] : kShapes) SweepInt4(n, k, copy_gbs, device.l2_cache_bytes, stream.get(), rng);
  }
  return 0;
}
