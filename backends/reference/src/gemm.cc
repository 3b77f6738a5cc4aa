#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <memory>

#include "octet/reference/kernel.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define OCTET_GEMM_X86 1
#endif

namespace octet::reference {
namespace {

// Register tile (MR x NR) per element type. The float and double tiles fill 12
// of the 16 AVX registers with accumulators, leaving room for two B vectors and
// one broadcast A value. The portable kernels use the same tiles so packing does
// not depend on which kernel runs.
template <typename T>
struct Tile;
template <>
struct Tile<float> {
  static constexpr int kMR = 6, kNR = 16;
};
template <>
struct Tile<double> {
  static constexpr int kMR = 6, kNR = 8;
};
template <>
struct Tile<uint32_t> {
  static constexpr int kMR = 6, kNR = 8;
};
template <>
struct Tile<uint64_t> {
  static constexpr int kMR = 4, kNR = 4;
};

// Cache blocking: a KC x NR sliver of B (16 KiB for float) stays in L1 while the
// MC x KC block of A (96 KiB) stays in L2 and is reused across NC / NR slivers.
constexpr int64_t kKC = 256;
constexpr int64_t kMC = kGemmRowBlock;  // multiple of every kMR
constexpr int64_t kNC = 512;            // multiple of every kNR

template <typename T>
using MicroKernelFn = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int mr,
                               int nr, T alpha, bool accumulate);

// Writes an MR x NR register tile (held in `acc`, row-major) to the valid mr x nr
// corner of C.
template <typename T, int NR>
inline void StoreTile(const T* acc, T* c, int64_t ldc, int mr, int nr, T alpha, bool accumulate) {
  for (int i = 0; i < mr; ++i) {
    T* row = c + i * ldc;
    const T* src = acc + i * NR;
    if (accumulate) {
      for (int j = 0; j < nr; ++j) row[j] += alpha * src[j];
    } else {
      for (int j = 0; j < nr; ++j) row[j] = alpha * src[j];
    }
  }
}

// Portable micro-kernel: with MR and NR known at compile time the accumulator
// array lives in registers and the j loop vectorises.
template <typename T, int MR, int NR>
__attribute__((always_inline)) inline void MicroKernelBody(int64_t kc, const T* a, const T* b, T* c,
                                                           int64_t ldc, int mr, int nr, T alpha,
                                                           bool accumulate) {
  T acc[MR * NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    for (int i = 0; i < MR; ++i) {
      const T av = a[p * MR + i];
      for (int j = 0; j < NR; ++j) acc[i * NR + j] += av * b[p * NR + j];
    }
  }
  StoreTile<T, NR>(acc, c, ldc, mr, nr, alpha, accumulate);
}

template <typename T>
void MicroKernelPortable(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int mr, int nr,
                         T alpha, bool accumulate) {
  MicroKernelBody<T, Tile<T>::kMR, Tile<T>::kNR>(kc, a, b, c, ldc, mr, nr, alpha, accumulate);
}

#ifdef OCTET_GEMM_X86
__attribute__((target("avx,fma"))) void MicroKernelF32Avx(int64_t kc, const float* a,
                                                          const float* b, float* c, int64_t ldc,
                                                          int mr, int nr, float alpha,
                                                          bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p, a += 6, b += 16) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    __m256 av = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
  }
  alignas(32) float acc[6 * 16];
  _mm256_store_ps(acc + 0, c00), _mm256_store_ps(acc + 8, c01);
  _mm256_store_ps(acc + 16, c10), _mm256_store_ps(acc + 24, c11);
  _mm256_store_ps(acc + 32, c20), _mm256_store_ps(acc + 40, c21);
  _mm256_store_ps(acc + 48, c30), _mm256_store_ps(acc + 56, c31);
  _mm256_store_ps(acc + 64, c40), _mm256_store_ps(acc + 72, c41);
  _mm256_store_ps(acc + 80, c50), _mm256_store_ps(acc + 88, c51);
  StoreTile<float, 16>(acc, c, ldc, mr, nr, alpha, accumulate);
}

__attribute__((target("avx,fma"))) void MicroKernelF64Avx(int64_t kc, const double* a,
                                                          const double* b, double* c, int64_t ldc,
                                                          int mr, int nr, double alpha,
                                                          bool accumulate) {
  __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
  __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
  __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
  __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
  __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
  __m256d c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
  for (int64_t p = 0; p < kc; ++p, a += 6, b += 8) {
    const __m256d b0 = _mm256_loadu_pd(b);
    const __m256d b1 = _mm256_loadu_pd(b + 4);
    __m256d av = _mm256_broadcast_sd(a);
    c00 = _mm256_fmadd_pd(av, b0, c00);
    c01 = _mm256_fmadd_pd(av, b1, c01);
    av = _mm256_broadcast_sd(a + 1);
    c10 = _mm256_fmadd_pd(av, b0, c10);
    c11 = _mm256_fmadd_pd(av, b1, c11);
    av = _mm256_broadcast_sd(a + 2);
    c20 = _mm256_fmadd_pd(av, b0, c20);
    c21 = _mm256_fmadd_pd(av, b1, c21);
    av = _mm256_broadcast_sd(a + 3);
    c30 = _mm256_fmadd_pd(av, b0, c30);
    c31 = _mm256_fmadd_pd(av, b1, c31);
    av = _mm256_broadcast_sd(a + 4);
    c40 = _mm256_fmadd_pd(av, b0, c40);
    c41 = _mm256_fmadd_pd(av, b1, c41);
    av = _mm256_broadcast_sd(a + 5);
    c50 = _mm256_fmadd_pd(av, b0, c50);
    c51 = _mm256_fmadd_pd(av, b1, c51);
  }
  alignas(32) double acc[6 * 8];
  _mm256_store_pd(acc + 0, c00), _mm256_store_pd(acc + 4, c01);
  _mm256_store_pd(acc + 8, c10), _mm256_store_pd(acc + 12, c11);
  _mm256_store_pd(acc + 16, c20), _mm256_store_pd(acc + 20, c21);
  _mm256_store_pd(acc + 24, c30), _mm256_store_pd(acc + 28, c31);
  _mm256_store_pd(acc + 32, c40), _mm256_store_pd(acc + 36, c41);
  _mm256_store_pd(acc + 40, c50), _mm256_store_pd(acc + 44, c51);
  StoreTile<double, 8>(acc, c, ldc, mr, nr, alpha, accumulate);
}

// AVX (without AVX2) has no 256-bit integer multiply, but compiling the portable
// body for this target still gets 128-bit pmulld instead of SSE2 emulation.
__attribute__((target("avx,fma"))) void MicroKernelU32Avx(int64_t kc, const uint32_t* a,
                                                          const uint32_t* b, uint32_t* c,
                                                          int64_t ldc, int mr, int nr,
                                                          uint32_t alpha, bool accumulate) {
  MicroKernelBody<uint32_t, 6, 8>(kc, a, b, c, ldc, mr, nr, alpha, accumulate);
}

bool CpuHasAvxFma() {
  static const bool has = __builtin_cpu_supports("avx") && __builtin_cpu_supports("fma");
  return has;
}
#endif  // OCTET_GEMM_X86

template <typename T>
MicroKernelFn<T> SelectMicroKernel() {
#ifdef OCTET_GEMM_X86
  if (CpuHasAvxFma()) {
    if constexpr (std::is_same_v<T, float>) return MicroKernelF32Avx;
    if constexpr (std::is_same_v<T, double>) return MicroKernelF64Avx;
    if constexpr (std::is_same_v<T, uint32_t>) return MicroKernelU32Avx;
  }
#endif
  return MicroKernelPortable<T>;
}

// Copies rows [i0, i0 + mc) x columns [p0, p0 + kc) of A into MR-row panels:
// panel r holds kc groups of MR values (rows past mc are zero).
template <typename T>
void PackA(const MatrixView<T>& a, int64_t i0, int64_t mc, int64_t p0, int64_t kc, T* dst) {
  constexpr int MR = Tile<T>::kMR;
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, mc - ir));
    T* panel = dst + ir * kc;
    for (int r = 0; r < MR; ++r) {
      if (r >= rows) {
        for (int64_t p = 0; p < kc; ++p) panel[p * MR + r] = T(0);
        continue;
      }
      const T* src = a.data + (i0 + ir + r) * a.row_stride + p0 * a.col_stride;
      for (int64_t p = 0; p < kc; ++p) panel[p * MR + r] = src[p * a.col_stride];
    }
  }
}

// Copies rows [p0, p0 + kc) x columns [j0, j0 + nc) of B into NR-column panels:
// panel j holds kc rows of NR values (columns past nc are zero).
template <typename T>
void PackB(const MatrixView<T>& b, int64_t p0, int64_t kc, int64_t j0, int64_t nc, T* dst) {
  constexpr int NR = Tile<T>::kNR;
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, nc - jr));
    T* panel = dst + jr * kc;
    for (int64_t p = 0; p < kc; ++p) {
      const T* src = b.data + (p0 + p) * b.row_stride + (j0 + jr) * b.col_stride;
      T* out = panel + p * NR;
      if (b.col_stride == 1) {
        for (int j = 0; j < cols; ++j) out[j] = src[j];
      } else {
        for (int j = 0; j < cols; ++j) out[j] = src[j * b.col_stride];
      }
      for (int j = cols; j < NR; ++j) out[j] = T(0);
    }
  }
}

struct Task {
  size_t problem;
  int64_t i0, mc, j0, nc;
};

// Splits [0, extent) into equal blocks of at most `max_block`, rounded up to a
// multiple of `unit` so that every block but the last is whole register tiles.
int64_t BalancedBlock(int64_t extent, int64_t max_block, int64_t unit) {
  const int64_t blocks = (extent + max_block - 1) / max_block;
  const int64_t block = (extent + blocks - 1) / blocks;
  return (block + unit - 1) / unit * unit;
}

template <typename T>
std::vector<Task> MakeTasks(const std::vector<GemmProblem<T>>& problems, int64_t mc_max,
                            int64_t nc_max) {
  std::vector<Task> tasks;
  for (size_t p = 0; p < problems.size(); ++p) {
    const GemmProblem<T>& g = problems[p];
    if (g.m == 0 || g.n == 0 || g.k == 0) continue;
    const int64_t mb = BalancedBlock(g.m, mc_max, Tile<T>::kMR);
    const int64_t nb = BalancedBlock(g.n, nc_max, Tile<T>::kNR);
    for (int64_t i0 = 0; i0 < g.m; i0 += mb)
      for (int64_t j0 = 0; j0 < g.n; j0 += nb)
        tasks.push_back({p, i0, std::min(mb, g.m - i0), j0, std::min(nb, g.n - j0)});
  }
  return tasks;
}

}  // namespace

template <typename T>
void RunGemms(const std::vector<GemmProblem<T>>& problems, int num_threads) {
  constexpr int MR = Tile<T>::kMR, NR = Tile<T>::kNR;
  // An empty inner dimension still defines C: alpha * (empty sum) = 0.
  for (const GemmProblem<T>& g : problems) {
    if (g.k != 0 || g.accumulate) continue;
    for (int64_t i = 0; i < g.m; ++i) std::fill(g.c + i * g.ldc, g.c + i * g.ldc + g.n, T(0));
  }
  // Shrink tiles until there are enough tasks to keep every thread busy (and
  // one spare each so that dynamic scheduling can even out ragged edges). Not
  // below 4 register tiles per side: every task packs its own A and B blocks,
  // so slivers of tasks would spend their time re-packing.
  const int threads = std::max(1, num_threads);
  int64_t mc_max = kMC, nc_max = kNC;
  std::vector<Task> tasks = MakeTasks(problems, mc_max, nc_max);
  while (threads > 1 && static_cast<int64_t>(tasks.size()) < 2 * threads) {
    if (nc_max > 4 * NR) {
      nc_max /= 2;
    } else if (mc_max > 4 * MR) {
      mc_max = std::max<int64_t>(4 * MR, mc_max / 2 / MR * MR);
    } else {
      break;
    }
    tasks = MakeTasks(problems, mc_max, nc_max);
  }
  if (tasks.empty()) return;

  // Packing buffers sized for the largest task, left uninitialised: packing
  // writes every element the micro-kernels read.
  int64_t a_size = 0, b_size = 0, macs = 0;
  for (const Task& t : tasks) {
    const int64_t kc = std::min(kKC, problems[t.problem].k);
    a_size = std::max(a_size, (t.mc + MR - 1) / MR * MR * kc);
    b_size = std::max(b_size, (t.nc + NR - 1) / NR * NR * kc);
    macs += t.mc * t.nc * problems[t.problem].k;
  }
  // Starting a thread costs tens of microseconds; not worth it for tiny products.
  constexpr int64_t kMinMacsPerThread = int64_t{1} << 16;
  const int64_t useful_threads = std::max<int64_t>(1, macs / kMinMacsPerThread);
  const int workers = static_cast<int>(
      std::min<int64_t>({threads, static_cast<int64_t>(tasks.size()), useful_threads}));
  const MicroKernelFn<T> kernel = SelectMicroKernel<T>();
  std::atomic<size_t> next{0};
  ParallelFor(workers, workers, [&](int64_t, int64_t) {
    std::unique_ptr<T[]> a_pack(new T[a_size]), b_pack(new T[b_size]);
    std::vector<T> scratch;
    for (size_t t = next++; t < tasks.size(); t = next++) {
      const Task& task = tasks[t];
      const GemmProblem<T>& g = problems[task.problem];
      for (int64_t p0 = 0; p0 < g.k; p0 += kKC) {
        const int64_t kc = std::min(kKC, g.k - p0);
        PackA(g.a, task.i0, task.mc, p0, kc, a_pack.get());
        if (g.b_block != nullptr) {
          scratch.resize(kc * task.nc);
          (*g.b_block)(p0, kc, task.j0, task.nc, scratch.data());
          PackB(RowMajorView(scratch.data(), task.nc), 0, kc, 0, task.nc, b_pack.get());
        } else {
          PackB(g.b, p0, kc, task.j0, task.nc, b_pack.get());
        }
        const bool accumulate = g.accumulate || p0 > 0;
        for (int64_t jr = 0; jr < task.nc; jr += NR) {
          for (int64_t ir = 0; ir < task.mc; ir += MR) {
            T* c = g.c + (task.i0 + ir) * g.ldc + task.j0 + jr;
            kernel(kc, a_pack.get() + ir * kc, b_pack.get() + jr * kc, c, g.ldc,
                   static_cast<int>(std::min<int64_t>(MR, task.mc - ir)),
                   static_cast<int>(std::min<int64_t>(NR, task.nc - jr)), g.alpha, accumulate);
          }
        }
      }
    }
  });
}

template void RunGemms<float>(const std::vector<GemmProblem<float>>&, int);
template void RunGemms<double>(const std::vector<GemmProblem<double>>&, int);
template void RunGemms<uint32_t>(const std::vector<GemmProblem<uint32_t>>&, int);
template void RunGemms<uint64_t>(const std::vector<GemmProblem<uint64_t>>&, int);

}  // namespace octet::reference
