// One Module shared by 8 threads, each with its own Session, 200 runs each
// with outputs checked against precomputed interpreter results; plus
// concurrent Run calls on a single Session, which the header says are
// serialised.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "process_stats.h"
#include "quant/quant_test_util.h"
#include "runtime_module/runtime_module_test_util.h"

namespace octet {
namespace {

using testing::MustLoad;

class RuntimeThreadsTest : public testing::ModuleDirTest {
 protected:
  void SetUp() override {
    ModuleDirTest::SetUp();
    const Model model = testing::SmallCnn(11);
    module_ = MustLoad(CompileToFile(model));
    ASSERT_NE(module_, nullptr);
    auto ref = ReferenceSession::FromModel(model.Clone(), {1});
    ASSERT_TRUE(ref.ok());
    std::mt19937 rng(9);
    for (int i = 0; i < kInputs; ++i) {
      Tensor x = testing::RandomTensor({1, 3, 8, 8}, rng);
      auto y = ref->Run({{"x", x}});
      ASSERT_TRUE(y.ok());
      inputs_.push_back(x);
      expected_.push_back(y->at("logits"));
    }
  }
  // Runs `runs` times on `session`, cycling through the inputs from `start`;
  // returns the number of wrong or failed runs.
  int RunChecked(runtime::Session& session, int start, int runs) const {
    int bad = 0;
    for (int r = 0; r < runs; ++r) {
      const int i = (start + r) % kInputs;
      auto out = session.Run({{"x", inputs_[i]}});
      if (!out.ok() || !out->at("logits").BitwiseEquals(expected_[i])) ++bad;
    }
    return bad;
  }

  static constexpr int kInputs = 5;
  std::shared_ptr<const runtime::Module> module_;
  std::vector<Tensor> inputs_, expected_;
};

TEST_F(RuntimeThreadsTest, EightThreadsEachWithASession) {
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      auto session = runtime::Session::Create(module_, {1});
      if (!session.ok()) {
        bad += 1000;
        return;
      }
      bad += RunChecked(**session, t, 200);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(RuntimeThreadsTest, ThousandsOfRunsDoNotGrowMemory) {
  // 8 sessions on one module; a warm-up round lets each thread's malloc arena
  // and each session's arena reach their steady size, then 8 x 500 more
  // checked runs must not add more than a few pages per thread.
  std::vector<std::unique_ptr<runtime::Session>> sessions;
  for (int t = 0; t < 8; ++t) {
    auto s = runtime::Session::Create(module_, {1});
    ASSERT_TRUE(s.ok());
    sessions.push_back(std::move(*s));
  }
  auto round = [&](int runs) {
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&, t] { bad += RunChecked(*sessions[t], t, runs); });
    for (auto& th : threads) th.join();
    return bad.load();
  };
  ASSERT_EQ(round(100), 0);
  const int64_t before = testing::ResidentBytes();
  ASSERT_EQ(round(500), 0);
  const int64_t growth = testing::ResidentBytes() - before;
  std::printf("[ runtime ] 4000 runs on 8 threads: RSS growth %lld kB\n",
              static_cast<long long>(growth / 1024));
  EXPECT_LT(growth, int64_t{4} << 20);
}

TEST_F(RuntimeThreadsTest, ConcurrentRunsOnOneSessionAreSerialised) {
  auto session = runtime::Session::Create(module_, {1});
  ASSERT_TRUE(session.ok());
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { bad += RunChecked(**session, t, 50); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace octet
