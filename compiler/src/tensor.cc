#include "octet/tensor.h"

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "octet/shape.h"

namespace octet {
namespace {
constexpr size_t kAlignment = 64;

// Freed large blocks, kept for the next tensor of the same rounded size.
// glibc serves blocks over 32 MiB with mmap and unmaps them on free, so an
// interpreter run that frees and allocates a transformer's activations node
// after node page-faults every byte of every one of them again: with SAM
// vit_b on the reference interpreter the kernel's page clearing took more
// time than the kernels (sys 33 s of 62 s). Sizes are rounded up to 1 MiB so
// that shapes of one layer share blocks; at most kMaxCachedBytes are held.
class LargeBlockCache {
 public:
  static constexpr size_t kMinBytes = size_t{4} << 20;
  static constexpr size_t kGranule = size_t{1} << 20;
  static constexpr size_t kMaxCachedBytes = size_t{2} << 30;

  static LargeBlockCache& Get() {
    static LargeBlockCache* cache = new LargeBlockCache;  // never destroyed: no exit-order issue
    return *cache;
  }
  static size_t Rounded(size_t size) { return (size + kGranule - 1) / kGranule * kGranule; }

  void* Take(size_t rounded) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blocks_.find(rounded);
    if (it == blocks_.end()) return nullptr;
    void* p = it->second;
    blocks_.erase(it);
    held_ -= rounded;
    return p;
  }
  void Give(void* p, size_t rounded) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (held_ + rounded <= kMaxCachedBytes) {
        blocks_.emplace(rounded, p);
        held_ += rounded;
        return;
      }
    }
    std::free(p);
  }

 private:
  std::mutex mu_;
  std::multimap<size_t, void*> blocks_;
  size_t held_ = 0;
};

std::shared_ptr<void> Allocate(int64_t nbytes, bool zeroed) {
  size_t size = (static_cast<size_t>(nbytes) + kAlignment - 1) / kAlignment * kAlignment;
  if (size == 0) size = kAlignment;
  if (size < LargeBlockCache::kMinBytes) {
    void* p = std::aligned_alloc(kAlignment, size);
    if (p == nullptr) return nullptr;
    if (zeroed) std::memset(p, 0, size);
    return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  }
  LargeBlockCache& cache = LargeBlockCache::Get();
  const size_t rounded = LargeBlockCache::Rounded(size);
  void* p = cache.Take(rounded);
  if (p == nullptr) p = std::aligned_alloc(kAlignment, rounded);
  if (p == nullptr) return nullptr;
  if (zeroed) std::memset(p, 0, size);
  return std::shared_ptr<void>(p, [rounded](void* q) { LargeBlockCache::Get().Give(q, rounded); });
}
}  // namespace

Expected<Tensor> Tensor::Create(DType dtype, std::vector<int64_t> dims) {
  OCTET_ASSIGN_OR_RETURN(int64_t n, CheckedProduct(dims, "tensor"));
  if (n > (int64_t{1} << 40))
    return OutOfRange("tensor of ", n, " elements is larger than Octet allows (2^40)");
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.numel_ = n;
  t.owner_ = Allocate(t.nbytes(), /*zeroed=*/true);
  if (!t.owner_) return OutOfRange("cannot allocate ", t.nbytes(), " bytes for a tensor");
  t.data_ = t.owner_.get();
  return t;
}

Tensor::Tensor(DType dtype, std::vector<int64_t> dims) {
  auto t = Create(dtype, std::move(dims));
  assert(t.ok() && "Tensor(dtype, dims) with invalid dims");
  *this = std::move(t).value();
}

Tensor Tensor::Uninitialized(DType dtype, std::vector<int64_t> dims) {
  auto n = CheckedProduct(dims, "tensor");
  assert(n.ok() && "Tensor::Uninitialized with invalid dims");
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.numel_ = n.ok() ? *n : 0;
  t.owner_ = Allocate(t.nbytes(), /*zeroed=*/false);
  if (!t.owner_) throw std::bad_alloc();
  t.data_ = t.owner_.get();
  return t;
}

Tensor Tensor::View(DType dtype, std::vector<int64_t> dims, void* data,
                    std::shared_ptr<void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  t.dims_ = std::move(dims);
  t.numel_ = n;
  t.owner_ = std::move(owner);
  t.data_ = data;
  return t;
}

Tensor Tensor::Clone() const {
  if (!defined()) return Tensor();
  Tensor t(dtype_, dims_);
  if (nbytes() > 0) std::memcpy(t.data_, data_, nbytes());
  return t;
}

Tensor Tensor::Reshaped(std::vector<int64_t> dims) const {
  Tensor t = *this;
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  assert(n == numel_);
  t.dims_ = std::move(dims);
  return t;
}

double Tensor::GetAsDouble(int64_t i) const {
  switch (dtype_) {
    case DType::kF32:
      return data<float>()[i];
    case DType::kF64:
      return data<double>()[i];
    case DType::kF16:
      return HalfToFloat(data<uint16_t>()[i]);
    case DType::kBF16:
      return BFloat16ToFloat(data<uint16_t>()[i]);
    case DType::kU64:
      return static_cast<double>(data<uint64_t>()[i]);
    default:
      return static_cast<double>(GetAsInt64(i));
  }
}

int64_t Tensor::GetAsInt64(int64_t i) const {
  switch (dtype_) {
    case DType::kI8:
      return data<int8_t>()[i];
    case DType::kU8:
      return data<uint8_t>()[i];
    case DType::kI16:
      return data<int16_t>()[i];
    case DType::kU16:
      return data<uint16_t>()[i];
    case DType::kI32:
      return data<int32_t>()[i];
    case DType::kU32:
      return data<uint32_t>()[i];
    case DType::kI64:
      return data<int64_t>()[i];
    case DType::kU64:
      return static_cast<int64_t>(data<uint64_t>()[i]);
    case DType::kBool:
      return data<uint8_t>()[i] != 0;
    case DType::kI4: {
      const uint8_t byte = data<uint8_t>()[i / 2];
      const int nib = (i % 2) ? (byte >> 4) : (byte & 0xf);
      return nib >= 8 ? nib - 16 : nib;
    }
    case DType::kU4: {
      const uint8_t byte = data<uint8_t>()[i / 2];
      return (i % 2) ? (byte >> 4) : (byte & 0xf);
    }
    default:
      return static_cast<int64_t>(GetAsDouble(i));
  }
}

void Tensor::SetFromDouble(int64_t i, double v) {
  switch (dtype_) {
    case DType::kF32:
      data<float>()[i] = static_cast<float>(v);
      return;
    case DType::kF64:
      data<double>()[i] = v;
      return;
    case DType::kF16:
      data<uint16_t>()[i] = FloatToHalf(static_cast<float>(v));
      return;
    case DType::kBF16:
      data<uint16_t>()[i] = FloatToBFloat16(static_cast<float>(v));
      return;
    case DType::kI8:
      data<int8_t>()[i] = static_cast<int8_t>(v);
      return;
    case DType::kU8:
      data<uint8_t>()[i] = static_cast<uint8_t>(v);
      return;
    case DType::kI16:
      data<int16_t>()[i] = static_cast<int16_t>(v);
      return;
    case DType::kU16:
      data<uint16_t>()[i] = static_cast<uint16_t>(v);
      return;
    case DType::kI32:
      data<int32_t>()[i] = static_cast<int32_t>(v);
      return;
    case DType::kU32:
      data<uint32_t>()[i] = static_cast<uint32_t>(v);
      return;
    case DType::kI64:
      data<int64_t>()[i] = static_cast<int64_t>(v);
      return;
    case DType::kU64:
      data<uint64_t>()[i] = static_cast<uint64_t>(v);
      return;
    case DType::kBool:
      data<uint8_t>()[i] = v != 0.0;
      return;
    case DType::kI4:
    case DType::kU4: {
      uint8_t& byte = data<uint8_t>()[i / 2];
      const uint8_t nib = static_cast<uint8_t>(static_cast<int64_t>(v) & 0xf);
      byte = (i % 2) ? static_cast<uint8_t>((byte & 0x0f) | (nib << 4))
                     : static_cast<uint8_t>((byte & 0xf0) | nib);
      return;
    }
    default:
      return;
  }
}

bool Tensor::BitwiseEquals(const Tensor& other) const {
  if (dtype_ != other.dtype_ || dims_ != other.dims_) return false;
  return nbytes() == 0 || std::memcmp(data_, other.data_, nbytes()) == 0;
}

std::string Tensor::ShapeString() const {
  std::string s(DTypeName(dtype_));
  s += "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(dims_[i]);
  }
  return s + "]";
}

}  // namespace octet
