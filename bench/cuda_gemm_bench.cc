// Not a test: throughput of Octet's fused int8 GEMM (int8 x int8 -> bf16 with
// per-token x per-channel scales and bias) beside cuBLASLt's int8 -> int32 and
// bf16 GEMMs at the SAM image encoder's linear-layer shapes (M = 4096 tokens
// x batch; (N, K) of qkv, proj, mlp.lin1, mlp.lin2 for vit_b and vit_h), plus
// an 8192^3 sanity point. Each number is the median of 15 timed batches of
// back-to-back launches (cudaEvent), after a warm-up; inputs are random and
// stay in place between runs, as a layer's weights and activations would.
// Also: every tile of the fused kernel (to check the automatic choice) and the
// per-token quantization that precedes the GEMM: of bf16 rows, of f32 rows (what
// the model quantizes) and of f32 rows with the LayerNorm fused in front, with
// the bandwidth each moves (bytes read + codes and scales written / time); and
// the fused GEMM as the model runs it (auto tile): f32 output, f32 output with
// the residual sum in place (proj, mlp.lin2), bf16 output with GELU (mlp.lin1).
//
//   build/cuda_gemm_bench            # all shapes
//   build/cuda_gemm_bench --quick    # vit_b batch 1 and 8192^3 only
//   build/cuda_gemm_bench --quant    # the quantization table only (fast)
//   build/cuda_gemm_bench --batch 8  # SAM shapes at one batch (1 or 8), no 8192^3
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
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
#include "octet/cuda/int8_kernels.h"

namespace {

using namespace octet;
using namespace octet::cuda;
using namespace octet::cuda::bench;

DeviceBuffer RandomBytes(size_t bytes, std::mt19937& rng, int lo, int hi) {
  std::vector<int8_t> host(bytes);
  std::uniform_int_distribution<int> dist(lo, hi);
  for (int8_t& v : host) v = static_cast<int8_t>(dist(rng));
  return Take(DeviceBuffer::FromHost(host.data(), bytes), "upload");
}

struct Shape {
  const char* name;
  int64_t m, n, k;
};

// Median microseconds of per-token quantization of [m, k] rows (bf16, f32, or
// f32 with a LayerNorm in front), and the bandwidth it moves in TB/s.
struct QuantTime {
  double us, tbps;
};

QuantTime TimeQuantize(int64_t m, int64_t k, DType type, bool layer_norm, const DeviceBuffer& src,
                       DeviceBuffer& codes, DeviceBuffer& scales, cudaStream_t stream) {
  QuantizeRowsPerTokenConfig qc;
  qc.k = k;
  qc.src_type = type;
  if (layer_norm) {
    qc.ln_scale.assign(k, 1.1f);
    qc.ln_bias.assign(k, 0.01f);
    qc.ln_epsilon = 1e-6f;
  }
  const QuantizeRowsPerToken quant = Take(QuantizeRowsPerToken::Create(qc), "quantize");
  const double us = MedianMicros(stream, [&] {
    return quant.Run(src.data(), m, codes.as<int8_t>(), scales.as<float>(), stream);
  });
  const double bytes = static_cast<double>(m) * k * (type == DType::kBF16 ? 2 : 4) +
                       static_cast<double>(m) * k + m * 4.0;
  return {us, bytes / (us * 1e-6) / 1e12};
}

void RunQuantShape(const Shape& s, cudaStream_t stream, std::mt19937& rng) {
  DeviceBuffer a_bf16 = RandomBf16(s.m * s.k, rng);
  std::vector<float> host(s.m * s.k);
  std::uniform_real_distribution<float> dist(-3.f, 3.f);
  for (float& v : host) v = dist(rng);
  DeviceBuffer a_f32 = Take(DeviceBuffer::FromHost(host.data(), host.size() * 4), "upload");
  DeviceBuffer codes = Take(DeviceBuffer::Allocate(s.m * s.k), "alloc");
  DeviceBuffer scales = Take(DeviceBuffer::Allocate(s.m * 4), "alloc");
  const QuantTime b = TimeQuantize(s.m, s.k, DType::kBF16, false, a_bf16, codes, scales, stream);
  const QuantTime f = TimeQuantize(s.m, s.k, DType::kF32, false, a_f32, codes, scales, stream);
  const QuantTime l = TimeQuantize(s.m, s.k, DType::kF32, true, a_f32, codes, scales, stream);
  std::printf("| %-14s | %6lld | %5lld | %7.1f (%.2f) | %7.1f (%.2f) | %7.1f (%.2f) |\n", s.name,
              static_cast<long long>(s.m), static_cast<long long>(s.k), b.us, b.tbps, f.us, f.tbps,
              l.us, l.tbps);
  std::fflush(stdout);
}

void RunShape(const Shape& s, cudaStream_t stream, std::mt19937& rng) {
  const double ops = 2.0 * s.m * s.n * s.k;
  auto tops = [&](double us) { return ops / (us * 1e-6) / 1e12; };

  DeviceBuffer a = RandomBytes(s.m * s.k, rng, -127, 127);
  DeviceBuffer w_nk = RandomBytes(s.n * s.k, rng, -127, 127);
  DeviceBuffer a_bf16 = RandomBf16(s.m * s.k, rng);
  DeviceBuffer w_bf16 = RandomBf16(s.n * s.k, rng);
  std::vector<float> a_scales_host(s.m, 0.01f);
  DeviceBuffer a_scales =
      Take(DeviceBuffer::FromHost(a_scales_host.data(), s.m * sizeof(float)), "upload");
  DeviceBuffer out_bf16 = Take(DeviceBuffer::Allocate(s.m * s.n * 2), "alloc");
  DeviceBuffer out_i32 = Take(DeviceBuffer::Allocate(s.m * s.n * 4), "alloc");
  DeviceBuffer codes = Take(DeviceBuffer::Allocate(s.m * s.k), "alloc");

  // The fused GEMM's weights come from the host, as at module load.
  std::vector<int8_t> w_host(s.n * s.k);
  Check(w_nk.CopyToHost(w_host.data(), w_host.size()), "download");
  Int8DynamicGemmConfig config;
  config.weights = Tensor(DType::kI8, {s.n, s.k});
  std::memcpy(config.weights.raw(), w_host.data(), w_host.size());
  config.weight_layout = WeightLayout::kNK;
  config.weight_scales.assign(s.n, 0.02f);
  config.bias = Tensor(DType::kF32, {s.n});
  config.dst_type = DType::kBF16;

  auto fused_micros = [&](Int8GemmTile tile) {
    config.tile = tile;
    const Int8DynamicGemm gemm = Take(Int8DynamicGemm::Create(config), "Int8DynamicGemm");
    return MedianMicros(stream, [&] {
      return gemm.Run(a.as<int8_t>(), a_scales.as<float>(), s.m, out_bf16.data(), stream);
    });
  };
  config.tile = Int8GemmTile::kAuto;
  const Int8GemmTile auto_tile =
      Take(Int8DynamicGemm::Create(config), "Int8DynamicGemm").TileFor(s.m);
  const double fused_us = fused_micros(Int8GemmTile::kAuto);
  std::string tiles;
  double best_tile_us = 1e30;
  for (Int8GemmTile t : {Int8GemmTile::kPingpong128x128, Int8GemmTile::kCooperative128x256,
                         Int8GemmTile::kCooperative256x128, Int8GemmTile::kCooperative128x192}) {
    const double us = fused_micros(t);
    best_tile_us = std::min(best_tile_us, us);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%.0f", tiles.empty() ? "" : "/", tops(us));
    tiles += buf;
  }

  CublasLtGemmConfig lt;
  lt.m = s.m;
  lt.n = s.n;
  lt.k = s.k;
  lt.type = CublasLtGemmType::kInt8Int32;
  const CublasLtGemm lt_int8 = Take(CublasLtGemm::Create(lt), "cuBLASLt int8");
  const double int8_us = MedianMicros(
      stream, [&] { return lt_int8.Run(a.data(), w_nk.data(), out_i32.data(), stream); });
  lt.type = CublasLtGemmType::kBf16;
  const CublasLtGemm lt_bf16 = Take(CublasLtGemm::Create(lt), "cuBLASLt bf16");
  const double bf16_us = MedianMicros(
      stream, [&] { return lt_bf16.Run(a_bf16.data(), w_bf16.data(), out_bf16.data(), stream); });

  QuantizeRowsPerTokenConfig qc;
  qc.k = s.k;
  qc.src_type = DType::kBF16;
  const QuantizeRowsPerToken quant = Take(QuantizeRowsPerToken::Create(qc), "quantize");
  const double quant_us = MedianMicros(stream, [&] {
    return quant.Run(a_bf16.data(), s.m, codes.as<int8_t>(), a_scales.as<float>(), stream);
  });
  // Restore the scales the GEMM timings used (quantization overwrote them).
  Check(a_scales.CopyFromHost(a_scales_host.data(), s.m * sizeof(float)), "upload");

  // The fused GEMM as the model runs it, with the automatic tile and with
  // ping-pong: f32 out; f32 out plus the residual sum in place (proj,
  // mlp.lin2); bf16 out with GELU (mlp.lin1).
  DeviceBuffer out_f32 = Take(DeviceBuffer::Allocate(s.m * s.n * 4), "alloc");
  auto model_micros = [&](Int8GemmTile tile, DType dst, bool residual, bool gelu) {
    config.tile = tile;
    config.dst_type = dst;
    config.activation = gelu ? Activation::kGeluErf : Activation::kNone;
    const Int8DynamicGemm gemm = Take(Int8DynamicGemm::Create(config), "Int8DynamicGemm model");
    config.tile = Int8GemmTile::kAuto;
    config.dst_type = DType::kBF16;
    config.activation = Activation::kNone;
    void* out = dst == DType::kF32 ? out_f32.data() : out_bf16.data();
    return MedianMicros(stream, [&] {
      return gemm.Run(a.as<int8_t>(), a_scales.as<float>(), s.m, out, stream,
                      residual ? out : nullptr);
    });
  };
  double model[3][2];  // f32, f32 + residual, gelu; auto, ping-pong
  for (int t = 0; t < 2; ++t) {
    const Int8GemmTile tile = t == 0 ? Int8GemmTile::kAuto : Int8GemmTile::kPingpong128x128;
    model[0][t] = model_micros(tile, DType::kF32, false, false);
    model[1][t] = model_micros(tile, DType::kF32, true, false);
    model[2][t] = model_micros(tile, DType::kBF16, false, true);
  }

  std::printf(
      "| %-14s | %6lld | %5lld | %5lld | %7.0f (%s) | %-19s | %7.0f | %6.0f | %5.1f%% | %7.1f | "
      "%7.1f | %4.0f/%4.0f | %4.0f/%4.0f | %4.0f/%4.0f |\n",
      s.name, static_cast<long long>(s.m), static_cast<long long>(s.n), static_cast<long long>(s.k),
      tops(fused_us), Int8GemmTileName(auto_tile), tiles.c_str(), tops(int8_us), tops(bf16_us),
      100.0 * int8_us / fused_us, fused_us, quant_us, tops(model[0][0]), tops(model[0][1]),
      tops(model[1][0]), tops(model[1][1]), tops(model[2][0]), tops(model[2][1]));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const bool quant_only = argc > 1 && std::strcmp(argv[1], "--quant") == 0;
  const int only_batch = argc > 2 && std::strcmp(argv[1], "--batch") == 0 ? std::atoi(argv[2]) : 0;
  std::string reason;
  if (!DeviceAvailable(&reason)) {
    std::fprintf(stderr, "cuda_gemm_bench: no CUDA device (%s)\n", reason.c_str());
    return 2;
  }
  const DeviceProperties device = Take(GetDeviceProperties(), "device");
  int runtime = 0, driver = 0;
  CheckCuda(cudaRuntimeGetVersion(&runtime), "cudaRuntimeGetVersion");
  CheckCuda(cudaDriverGetVersion(&driver), "cudaDriverGetVersion");
  std::printf("device: %s; CUDA runtime %d, driver %d, cuBLASLt %zu\n", device.ToString().c_str(),
              runtime, driver, cublasLtGetVersion());
  Stream stream = Take(Stream::Create(), "stream");
  std::mt19937 rng(1234);
  struct Layer {
    const char* name;
    int64_t n, k;
  };
  if (quant_only) {
    std::printf(
        "per-token quantization of [M,K] rows: median us (TB/s moved = bytes read + codes + "
        "scales written / time); bf16 rows, f32 rows, f32 rows with LayerNorm fused\n\n");
    std::printf(
        "| shape          |      M |     K | bf16 us (TB/s) | f32 us (TB/s) | "
        "LN+f32 us (TB/s) |\n|---|---|---|---|---|---|\n");
    for (const Layer& l :
         {Layer{"K 768", 0, 768}, Layer{"K 1024", 0, 1024}, Layer{"K 1280", 0, 1280},
          Layer{"K 3072", 0, 3072}, Layer{"K 5120", 0, 5120}})
      RunQuantShape({l.name, 4096 * 8, l.n, l.k}, stream.get(), rng);
    Check(stream.Synchronize(), "synchronize");
    return 0;
  }
  std::printf(
      "TOPS = 2MNK / median time; fused = Octet int8 x int8 -> bf16 with per-token x "
      "per-channel scales and bias (auto tile; then each of pingpong128x128 / coop128x256 / "
      "coop256x128 / coop128x192); "
      "%% = fused throughput / cuBLASLt int8->int32 throughput; quant = per-token "
      "quantization of the bf16 activations [M,K]; f32 out = fused TOPS with f32 output, "
      "f32+res = f32 output plus the residual sum in place, gelu = bf16 output with GELU (each "
      "auto tile / pingpong128x128)\n\n");
  std::printf(
      "| shape          |      M |     N |     K | fused TOPS (tile) | tiles               | "
      "i8->i32 | bf16 TF | fused%% | fused us | quant us | f32 out   | f32+res   | gelu      |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");

  const Layer vit_b[] = {{"vit_b qkv", 2304, 768},
                         {"vit_b proj", 768, 768},
                         {"vit_b mlp1", 3072, 768},
                         {"vit_b mlp2", 768, 3072}};
  const Layer vit_h[] = {{"vit_h qkv", 3840, 1280},
                         {"vit_h proj", 1280, 1280},
                         {"vit_h mlp1", 5120, 1280},
                         {"vit_h mlp2", 1280, 5120}};
  for (int batch : {1, 8}) {
    if ((quick && batch != 1) || (only_batch != 0 && batch != only_batch)) continue;
    for (const Layer& l : vit_b) RunShape({l.name, 4096 * batch, l.n, l.k}, stream.get(), rng);
    if (quick) continue;
    for (const Layer& l : vit_h) RunShape({l.name, 4096 * batch, l.n, l.k}, stream.get(), rng);
  }
  if (only_batch == 0) RunShape({"square 8192", 8192, 8192, 8192}, stream.get(), rng);
  Check(stream.Synchronize(), "synchronize");
  return 0;
}
