// A created kernel is immutable and Run is reentrant: several threads running
// one kernel (and copies of it) at once get the single-threaded result.
#include <gtest/gtest.h>

#include <thread>

#include "octet/x86/int8_kernels.h"
#include "x86_test_util.h"

namespace octet::x86::testing {
namespace {

constexpr int kThreads = 4, kRuns = 40;

TEST(Int8Concurrency, OneConvManyThreads) {
  std::mt19937 rng(Seed(11));
  Int8Conv2dConfig c;
  c.src_dims = {2, 8, 9, 7};
  c.layout = Layout::kNCHW;  // the path with private reorder buffers
  c.weights = RandomInts<int8_t>({16, 8, 3, 3}, rng, -127, 127);
  c.weight_scales = RandomFloats(16, rng, 0.001f, 0.01f);
  c.pads = {1, 1, 1, 1};
  c.src = {0.02f, 3};
  c.post_ops = {PostOp::kSum, PostOp::kRelu};
  c.residual = {0.03f, 128};
  c.dst = {0.05f, 10};
  auto conv = Int8Conv2d::Create(c);
  ASSERT_TRUE(conv.ok()) << conv.status().ToString();
  const Tensor x = RandomInts<uint8_t>(c.src_dims, rng, 0, U8ActivationMax());
  const Tensor r = RandomInts<uint8_t>(conv->dst_dims(), rng, 0, 255);
  Tensor want(DType::kU8, conv->dst_dims());
  ASSERT_TRUE(conv->Run(x.raw(), want.raw(), r.raw()).ok());

  const Int8Conv2d copy = *conv;  // shares the primitive and packed weights
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const Int8Conv2d& k = t % 2 ? copy : *conv;
      Tensor out(DType::kU8, want.dims());
      for (int i = 0; i < kRuns; ++i) {
        if (!k.Run(x.raw(), out.raw(), r.raw()).ok() || !out.BitwiseEquals(want)) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(Int8Concurrency, OnePerTokenMatMulManyThreads) {
  std::mt19937 rng(Seed(12));
  Int8MatMulConfig c;
  c.m = 16;
  c.src_type = DType::kU8;
  c.src = {1.f, 64};
  c.per_row_src_scales = true;
  c.weights = RandomInts<int8_t>({72, 40}, rng, -127, 127);
  c.weight_scales = RandomFloats(40, rng, 0.001f, 0.01f);
  c.bias = Tensor::FromVector(RandomFloats(40, rng, -1, 1), {40});
  auto mm = Int8MatMul::Create(c);
  ASSERT_TRUE(mm.ok()) << mm.status().ToString();
  const Tensor x = RandomInts<uint8_t>({16, 72}, rng, 0, 127);
  // Each thread has its own row scales: the post-op operand is per run.
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<float> scales(16, 0.01f * (t + 1));
      Tensor want(DType::kF32, {16, 40}), out(DType::kF32, {16, 40});
      if (!mm->Run(x.raw(), want.raw(), scales.data()).ok()) ++mismatches[t];
      for (int i = 0; i < kRuns; ++i) {
        if (!mm->Run(x.raw(), out.raw(), scales.data()).ok() || !out.BitwiseEquals(want))
          ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace octet::x86::testing
