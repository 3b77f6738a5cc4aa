// One Module shared by 8 threads, each with its own Session, 200 runs each
// with outputs checked against precomputed interpreter results; plus
// concurrent Run calls on a single Session, which the header says are
// serialised.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

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
