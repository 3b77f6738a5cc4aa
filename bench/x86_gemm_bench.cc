// int8 vs f32 throughput of the x86 kernels at resnet18's convolution shapes
// and the GEMMs they amount to (im2col: M = N*OH*OW, K = C*kH*kW, N = O).
// Not a test: run it by hand on the machine you care about, e.g.
//   OMP_NUM_THREADS=16 build/x86_gemm_bench --batch 32
// int8: Int8Conv2d / Int8MatMul (u8 activations, NHWC, requantized u8 out +
// ReLU, as lowered QDQ would run; "tok-" rows: s8 activations with per-row
// scales, the dynamic per-token form). f32: the same oneDNN primitive in f32 with
// the layouts oneDNN prefers (format any), so f32 gets its best case.
// GFLOP/s counts 2 operations per multiply-add for both.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "octet/x86/cpu_info.h"
#include "octet/x86/int8_kernels.h"

namespace {

using dnnl::memory;
using octet::DType;
using octet::Tensor;
using tag = memory::format_tag;

double g_min_time = 0.3;  // seconds of timed runs per measurement

// Median seconds per call over at least g_min_time (after 2 warm-up calls).
double TimeIt(const std::function<void()>& fn) {
  fn();
  fn();
  std::vector<double> times;
  const auto start = std::chrono::steady_clock::now();
  while (times.size() < 5 ||
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
             g_min_time) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

Tensor RandomS8(std::vector<int64_t> dims, std::mt19937& rng) {
  Tensor t(DType::kI8, std::move(dims));
  std::uniform_int_distribution<int> d(-127, 127);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(d(rng));
  return t;
}
std::vector<uint8_t> RandomU8(size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(0, 127);  // 7-bit: exact on every ISA
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = static_cast<uint8_t>(d(rng));
  return v;
}

const dnnl::engine& Engine() {
  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// Times an f32 oneDNN primitive on zeroed memories that oneDNN allocates.
template <typename PD>
double TimeF32(const dnnl::primitive& p, const PD& pd) {
  std::unordered_map<int, memory> m;
  const std::pair<int, memory::desc> args[] = {{DNNL_ARG_SRC, pd.src_desc()},
                                               {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                                               {DNNL_ARG_BIAS, pd.bias_desc()},
                                               {DNNL_ARG_DST, pd.dst_desc()}};
  for (const auto& [arg, md] : args) {
    memory mem(md, Engine());
    std::memset(mem.get_data_handle(), 0, md.get_size());
    m[arg] = mem;
  }
  dnnl::stream s(Engine());
  return TimeIt([&] {
    p.execute(s, m);
    s.wait();
  });
}

struct ConvShape {
  const char* name;
  int64_t c, h, w, o, k, stride, pad;
};

void BenchConv(const ConvShape& sh, int64_t batch, std::mt19937& rng) {
  octet::x86::Int8Conv2dConfig cfg;
  cfg.src_dims = {batch, sh.c, sh.h, sh.w};
  cfg.weights = RandomS8({sh.o, sh.c, sh.k, sh.k}, rng);
  cfg.weight_scales.assign(sh.o, 0.01f);
  cfg.bias = Tensor(DType::kF32, {sh.o});
  cfg.strides = {sh.stride, sh.stride};
  cfg.pads = {sh.pad, sh.pad, sh.pad, sh.pad};
  cfg.src = {0.02f, 0};
  cfg.post_ops = {octet::x86::PostOp::kRelu};
  cfg.dst = {0.05f, 0};
  auto conv = octet::x86::Int8Conv2d::Create(cfg);
  if (!conv.ok()) {
    std::printf("%-10s %s\n", sh.name, conv.status().ToString().c_str());
    return;
  }
  const auto& od = conv->dst_dims();
  const std::vector<uint8_t> src = RandomU8(batch * sh.c * sh.h * sh.w, rng);
  std::vector<uint8_t> dst(od[0] * od[1] * od[2] * od[3]);
  octet::Status st = conv->Run(src.data(), dst.data());
  if (!st.ok()) {
    std::printf("%-10s %s\n", sh.name, st.ToString().c_str());
    return;
  }
  const double t8 = TimeIt([&] { (void)conv->Run(src.data(), dst.data()); });

  const dnnl::engine& eng = Engine();
  const memory::desc s({batch, sh.c, sh.h, sh.w}, memory::data_type::f32, tag::any);
  const memory::desc w({sh.o, sh.c, sh.k, sh.k}, memory::data_type::f32, tag::any);
  const memory::desc b({sh.o}, memory::data_type::f32, tag::a);
  const memory::desc d({od[0], od[1], od[2], od[3]}, memory::data_type::f32, tag::any);
  dnnl::post_ops ops;
  ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  dnnl::convolution_forward::primitive_desc pd(
      eng, dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, s, w, b, d,
      {sh.stride, sh.stride}, {sh.pad, sh.pad}, {sh.pad, sh.pad}, attr);
  const double t32 = TimeF32(dnnl::convolution_forward(pd), pd);
  const double gflop = 2.0 * od[0] * od[1] * od[2] * od[3] * sh.c * sh.k * sh.k * 1e-9;
  std::printf(
      "%-10s %4ldx%-4ld %3ld->%-3ld k%ld s%ld | int8 %8.3f ms %7.1f GOP/s | f32 %8.3f ms "
      "%7.1f GFLOP/s | x%.2f | %s / %s\n",
      sh.name, static_cast<long>(sh.h), static_cast<long>(sh.w), static_cast<long>(sh.c),
      static_cast<long>(sh.o), static_cast<long>(sh.k), static_cast<long>(sh.stride), t8 * 1e3,
      gflop / t8, t32 * 1e3, gflop / t32, t32 / t8, conv->implementation().c_str(),
      pd.impl_info_str());
}

// per_token: s8 activations with one scale per row (dynamic quantization).
void BenchMatMul(const char* name, int64_t m, int64_t k, int64_t n, std::mt19937& rng,
                 bool per_token = false) {
  octet::x86::Int8MatMulConfig cfg;
  cfg.m = m;
  cfg.src_type = per_token ? DType::kI8 : DType::kU8;
  cfg.per_row_src_scales = per_token;
  cfg.weights = RandomS8({k, n}, rng);
  cfg.weight_scales.assign(n, 0.01f);
  cfg.bias = Tensor(DType::kF32, {n});
  cfg.relu = true;
  cfg.src = {0.02f, 0};
  cfg.dst_type = DType::kU8;
  cfg.dst = {0.05f, 0};
  auto mm = octet::x86::Int8MatMul::Create(cfg);
  if (!mm.ok()) {
    std::printf("%-10s %s\n", name, mm.status().ToString().c_str());
    return;
  }
  const std::vector<uint8_t> src = RandomU8(m * k, rng);
  std::vector<uint8_t> dst(m * n);
  const std::vector<float> row_scales(m, 0.02f);
  const float* rs = per_token ? row_scales.data() : nullptr;
  octet::Status st = mm->Run(src.data(), dst.data(), rs);
  if (!st.ok()) {
    std::printf("%-10s %s\n", name, st.ToString().c_str());
    return;
  }
  const double t8 = TimeIt([&] { (void)mm->Run(src.data(), dst.data(), rs); });

  const dnnl::engine& eng = Engine();
  dnnl::post_ops ops;
  ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  dnnl::matmul::primitive_desc pd(
      eng, {{m, k}, memory::data_type::f32, tag::ab}, {{k, n}, memory::data_type::f32, tag::any},
      {{1, n}, memory::data_type::f32, tag::ab}, {{m, n}, memory::data_type::f32, tag::ab}, attr);
  const double t32 = TimeF32(dnnl::matmul(pd), pd);
  const double gflop = 2.0 * m * k * n * 1e-9;
  std::printf(
      "%-10s M%-6ld K%-5ld N%-5ld | int8 %8.3f ms %7.1f GOP/s | f32 %8.3f ms %7.1f "
      "GFLOP/s | x%.2f | %s / %s\n",
      name, static_cast<long>(m), static_cast<long>(k), static_cast<long>(n), t8 * 1e3, gflop / t8,
      t32 * 1e3, gflop / t32, t32 / t8, mm->implementation().c_str(), pd.impl_info_str());
}

}  // namespace

int main(int argc, char** argv) {
  int64_t batch = 1;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--batch" && i + 1 < argc) {
      batch = std::atol(argv[++i]);
    } else if (a == "--min-time" && i + 1 < argc) {
      g_min_time = std::atof(argv[++i]);
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: x86_gemm_bench [--batch N] [--min-time SECONDS] [--only conv|matmul]\n"
                   "threads: OMP_NUM_THREADS (default: all cores)\n");
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  if (batch < 1) batch = 1;
  std::printf("# %s\n# batch %ld, OMP_NUM_THREADS=%s, median of >= %.2f s per row\n",
              octet::x86::CpuSummary().c_str(), static_cast<long>(batch),
              std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "(all cores)",
              g_min_time);
  std::mt19937 rng(7);
  try {
    if (only.empty() || only == "conv") {
      const ConvShape convs[] = {
          {"conv1", 3, 224, 224, 64, 7, 2, 3},     {"layer1", 64, 56, 56, 64, 3, 1, 1},
          {"layer2.0", 64, 56, 56, 128, 3, 2, 1},  {"layer2", 128, 28, 28, 128, 3, 1, 1},
          {"down2", 64, 56, 56, 128, 1, 2, 0},     {"layer3", 256, 14, 14, 256, 3, 1, 1},
          {"layer4.0", 256, 14, 14, 512, 3, 2, 1}, {"layer4", 512, 7, 7, 512, 3, 1, 1},
      };
      for (const auto& c : convs) BenchConv(c, batch, rng);
    }
    if (only.empty() || only == "matmul") {
      BenchMatMul("gemm-l1", batch * 3136, 576, 64, rng);
      BenchMatMul("gemm-l2", batch * 784, 1152, 128, rng);
      BenchMatMul("gemm-l3", batch * 196, 2304, 256, rng);
      BenchMatMul("gemm-l4", batch * 49, 4608, 512, rng);
      BenchMatMul("fc", batch, 512, 1000, rng);
      // The dynamic per-token form (s8, a scale per row) at a ViT-B MLP shape.
      BenchMatMul("tok-mlp", batch * 196, 768, 3072, rng, /*per_token=*/true);
      BenchMatMul("mlp", batch * 196, 768, 3072, rng);
    }
  } catch (const dnnl::error& e) {
    std::fprintf(stderr, "oneDNN error: %s\n", e.what());
    return 1;
  }
  return 0;
}
