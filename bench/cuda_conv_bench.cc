// Not a test: the cuda target's float convolutions at resnet18's and SAM's
// shapes, f32 NCHW in and out with bias and relu, both paths in one run:
//   im2col       Im2ColBf16 + Bf16Gemm (`--cuda-conv im2col`, and the
//                convolutions cuDNN does not take)
//   cudnn op     what cuda.conv2d_cudnn runs: NchwF32ToNhwcBf16, CudnnConv
//                (bf16 NHWC, cuDNN's heuristic algorithm), NhwcBf16ToNchwF32
//                with the bias and relu
//   cudnn conv   the CudnnConv call alone, and the fastest algorithm of
//                cudnnFindConvolutionForwardAlgorithmEx (time as Find reports)
// Times are medians of 15 batches of back-to-back launches (cudaEvent) after
// 5 warm-up launches, on random inputs; TFLOP/s counts 2 N O OH OW C kh kw.
// Back-to-back launches include the host's enqueue cost where a call takes
// longer to enqueue than to run (cuDNN at batch 1); a module replays a CUDA
// graph, which does not.
//
// The "C padded to N" rows are the stem / patch embedding with zero channels
// added (the same work plus zeros), to see whether cuDNN's tensor-core
// kernels would take them faster padded.
//
//   build/cuda_conv_bench [BATCH...]     (default: 64 8 1)
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cuda_bench_util.h"
#include "octet/cuda/bf16_gemm.h"
#include "octet/cuda/conv_pool_kernels.h"
#include "octet/cuda/cudnn_conv.h"
#include "octet/cuda/device_buffer.h"

namespace {

using namespace octet;
using namespace octet::cuda;
using bench::Check;
using bench::Take;

struct Shape {
  const char* name;
  int64_t c, h, w, o, k, s, p;
};

const Shape kShapes[] = {
    {"r18 conv1", 3, 224, 224, 64, 7, 2, 3},
    {"r18 conv1, C padded to 8", 8, 224, 224, 64, 7, 2, 3},
    {"r18 conv1, C padded to 16", 16, 224, 224, 64, 7, 2, 3},
    {"r18 layer1", 64, 56, 56, 64, 3, 1, 1},
    {"r18 layer2.0.conv1", 64, 56, 56, 128, 3, 2, 1},
    {"r18 layer2.0.ds", 64, 56, 56, 128, 1, 2, 0},
    {"r18 layer2", 128, 28, 28, 128, 3, 1, 1},
    {"r18 layer3.0.conv1", 128, 28, 28, 256, 3, 2, 1},
    {"r18 layer3", 256, 14, 14, 256, 3, 1, 1},
    {"r18 layer4.0.conv1", 256, 14, 14, 512, 3, 2, 1},
    {"r18 layer4", 512, 7, 7, 512, 3, 1, 1},
    {"sam patch_embed", 3, 1024, 1024, 768, 16, 16, 0},
    {"sam patch_embed, C padded to 8", 8, 1024, 1024, 768, 16, 16, 0},
    {"sam neck 1x1", 768, 64, 64, 256, 1, 1, 0},
    {"sam neck 3x3", 256, 64, 64, 256, 3, 1, 1},
};

DeviceBuffer RandomF32(size_t count, std::mt19937& rng) {
  std::vector<float> host(count);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (float& v : host) v = dist(rng);
  return Take(DeviceBuffer::FromHost(host.data(), count * 4), "upload");
}

void Run(const Shape& sh, int64_t batch, std::mt19937& rng) {
  Window2d win;
  win.kernel_h = win.kernel_w = sh.k;
  win.stride_h = win.stride_w = sh.s;
  win.pad_top = win.pad_left = win.pad_bottom = win.pad_right = sh.p;
  const int64_t oh = (sh.h + 2 * sh.p - sh.k) / sh.s + 1, ow = (sh.w + 2 * sh.p - sh.k) / sh.s + 1;
  const Conv2dDims d{batch, sh.c, sh.h, sh.w, sh.o, oh, ow};
  const int64_t taps = sh.c * sh.k * sh.k, pixels = oh * ow;
  const double flop = 2.0 * batch * sh.o * pixels * taps;
  auto tflops = [&](double us) { return flop / (us * 1e-6) / 1e12; };
  DeviceBuffer x = RandomF32(batch * sh.c * sh.h * sh.w, rng), bias = RandomF32(sh.o, rng);
  DeviceBuffer y = Take(DeviceBuffer::Allocate(batch * sh.o * pixels * 4), "alloc");
  DeviceBuffer ws = Take(DeviceBuffer::Allocate(CudnnConv::kWorkspaceBytes), "alloc");
  // im2col + bf16 GEMM: weights [O, rows] bf16 with the bias as 2 rows.
  const int64_t rows = (taps + 2 + 7) / 8 * 8;
  DeviceBuffer packed = Take(DeviceBuffer::Allocate(sh.o * rows * 2), "alloc");
  bench::CheckCuda(cudaMemset(packed.data(), 0x3c, packed.bytes()), "cudaMemset");
  DeviceBuffer cols = Take(DeviceBuffer::Allocate(batch * rows * pixels * 2), "alloc");
  Bf16GemmConfig gc;
  gc.relu = true;
  Bf16Gemm gemm = Take(Bf16Gemm::Create(gc), "Bf16Gemm::Create");
  Bf16GemmShape s;
  s.m = pixels, s.n = sh.o, s.k = rows, s.lda = pixels, s.ldb = rows, s.ldc = pixels;
  s.batch = batch, s.stride_a = rows * pixels, s.stride_c = sh.o * pixels;
  const double im2col_us = bench::MedianMicros(nullptr, [&] {
    Status st = Im2ColBf16(x.as<float>(), d, win, rows, 2, cols.data(), nullptr);
    if (!st.ok()) return st;
    return gemm.Run(s, cols.data(), packed.data(), nullptr, y.as<float>(), ws.data(),
                    Bf16Gemm::kWorkspaceBytes, nullptr);
  });
  // cuDNN in bf16 NHWC, with the layout changes around it, then alone.
  DeviceBuffer w = bench::RandomBf16(sh.o * taps, rng);
  DeviceBuffer xh = Take(DeviceBuffer::Allocate(batch * sh.c * sh.h * sh.w * 2), "alloc");
  DeviceBuffer yh = Take(DeviceBuffer::Allocate(batch * sh.o * pixels * 2), "alloc");
  CudnnConvConfig config;
  config.window = win;
  config.out_channels = sh.o;
  config.channels_per_group = sh.c;
  config.weights = w.data();
  CudnnConv conv = Take(CudnnConv::Create(config), "CudnnConv::Create");
  const std::string algo = Take(conv.AlgorithmFor(d, ws.bytes()), "AlgorithmFor");
  const double op_us = bench::MedianMicros(nullptr, [&] {
    Status st = NchwF32ToNhwcBf16(x.as<float>(), batch, sh.c, sh.h * sh.w, xh.data(), nullptr);
    if (st.ok()) st = conv.Run(d, xh.data(), yh.data(), ws.data(), ws.bytes(), nullptr);
    if (st.ok())
      st = NhwcBf16ToNchwF32(yh.data(), batch, sh.o, pixels, bias.as<float>(), nullptr, true,
                             y.as<float>(), nullptr);
    return st;
  });
  const double conv_us = bench::MedianMicros(
      nullptr, [&] { return conv.Run(d, xh.data(), yh.data(), ws.data(), ws.bytes(), nullptr); });
  const std::vector<CudnnAlgoTime> measured = Take(
      conv.MeasureAlgorithms(d, xh.data(), yh.data(), ws.data(), ws.bytes()), "MeasureAlgorithms");
  std::printf("| %s | %lld | %.1f (%.0f) | %.1f (%.0f) | %.1f (%.0f) %s | %.1f %s |\n", sh.name,
              static_cast<long long>(batch), im2col_us, tflops(im2col_us), op_us, tflops(op_us),
              conv_us, tflops(conv_us), algo.c_str(), measured[0].ms * 1000,
              measured[0].name.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> batches;
  for (int i = 1; i < argc; ++i) batches.push_back(std::atoll(argv[i]));
  if (batches.empty()) batches = {64, 8, 1};
  std::printf("cuDNN %lld\n", static_cast<long long>(CudnnConv::LoadedVersion()));
  std::printf(
      "| shape | N | im2col + bf16 GEMM us (TFLOP/s) | cudnn op us (TFLOP/s) | cudnn conv us "
      "(TFLOP/s), algorithm | Find's fastest us, algorithm |\n|---|---|---|---|---|---|\n");
  std::mt19937 rng(1);
  for (int64_t batch : batches)
    for (const Shape& sh : kShapes) {
      if (batch > 8 && std::string(sh.name).rfind("sam", 0) == 0) continue;  // 1-8 images
      Run(sh, batch, rng);
    }
  return 0;
}
