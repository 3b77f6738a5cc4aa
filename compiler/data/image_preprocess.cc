#include "octet/data/image_preprocess.h"

#include <cmath>

namespace octet::data {
namespace {

// PIL's convert("L"): ITU-R 601-2 luma in 16-bit fixed point, rounded.
uint8_t Luma(const uint8_t* rgb) {
  return static_cast<uint8_t>((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
}

float PerChannel(const std::vector<float>& v, int64_t c, float fallback) {
  if (v.empty()) return fallback;
  return v.size() == 1 ? v[0] : v[c];
}

}  // namespace

ImagePreprocess ImagenetPreprocess() {
  ImagePreprocess p;
  p.resize_mode = ResizeMode::kShorterSide;
  p.resize_size = 256;
  p.crop_height = p.crop_width = 224;
  p.scale = 1.0f / 255.0f;
  p.mean = {0.485f, 0.456f, 0.406f};
  p.std = {0.229f, 0.224f, 0.225f};
  return p;
}

ImagePreprocess SamPreprocess(int64_t size) {
  ImagePreprocess p;
  p.resize_mode = ResizeMode::kLongerSide;
  p.resize_size = size;
  p.scale = 1.0f;
  p.mean = {123.675f, 116.28f, 103.53f};
  p.std = {58.395f, 57.12f, 57.375f};
  p.pad_height = p.pad_width = size;
  return p;
}

Status ValidatePreprocess(const ImagePreprocess& p) {
  if (p.channels != 1 && p.channels != 3)
    return InvalidArgument("preprocess: channels must be 1 or 3, got ", p.channels);
  if ((p.resize_mode == ResizeMode::kShorterSide || p.resize_mode == ResizeMode::kLongerSide) &&
      p.resize_size <= 0)
    return InvalidArgument("preprocess: resize size must be positive, got ", p.resize_size);
  if (p.resize_mode == ResizeMode::kExact && (p.resize_height <= 0 || p.resize_width <= 0))
    return InvalidArgument("preprocess: resize must be positive, got ", p.resize_height, "x",
                           p.resize_width);
  if (p.crop_height < 0 || p.crop_width < 0 || (p.crop_height == 0) != (p.crop_width == 0))
    return InvalidArgument("preprocess: crop must be positive, got ", p.crop_height, "x",
                           p.crop_width);
  if (p.pad_height < 0 || p.pad_width < 0 || (p.pad_height == 0) != (p.pad_width == 0))
    return InvalidArgument("preprocess: pad must be positive, got ", p.pad_height, "x",
                           p.pad_width);
  for (const auto* v : {&p.mean, &p.std}) {
    const char* name = v == &p.mean ? "mean" : "std";
    if (!v->empty() && v->size() != 1 && v->size() != static_cast<size_t>(p.channels))
      return InvalidArgument("preprocess: ", name, " needs 1 or ", p.channels, " values, got ",
                             v->size());
  }
  for (float s : p.std)
    if (s == 0.0f) return InvalidArgument("preprocess: std values must be non-zero");
  if (p.scale == 0.0f) return InvalidArgument("preprocess: scale must be non-zero");
  return Status::Ok();
}

void ResizedSize(const ImagePreprocess& p, int64_t height, int64_t width, int64_t* out_height,
                 int64_t* out_width) {
  *out_height = height;
  *out_width = width;
  switch (p.resize_mode) {
    case ResizeMode::kNone:
      break;
    case ResizeMode::kShorterSide: {
      // torchvision: new_long = int(size * long / short), in Python floats.
      const int64_t lo = std::min(height, width), hi = std::max(height, width);
      const auto other =
          static_cast<int64_t>(static_cast<double>(p.resize_size * hi) / static_cast<double>(lo));
      if (width <= height) {
        *out_width = p.resize_size;
        *out_height = other;
      } else {
        *out_height = p.resize_size;
        *out_width = other;
      }
      break;
    }
    case ResizeMode::kLongerSide: {
      // segment-anything's ResizeLongestSide.get_preprocess_shape.
      const double scale =
          static_cast<double>(p.resize_size) / static_cast<double>(std::max(height, width));
      *out_height = static_cast<int64_t>(static_cast<double>(height) * scale + 0.5);
      *out_width = static_cast<int64_t>(static_cast<double>(width) * scale + 0.5);
      break;
    }
    case ResizeMode::kExact:
      *out_height = p.resize_height;
      *out_width = p.resize_width;
      break;
  }
  *out_height = std::max<int64_t>(*out_height, 1);
  *out_width = std::max<int64_t>(*out_width, 1);
}

Expected<Tensor> PreprocessImage(const DecodedImage& image, const ImagePreprocess& p,
                                 const std::string& what) {
  OCTET_RETURN_IF_ERROR(ValidatePreprocess(p));
  const int64_t c = p.channels;
  int64_t h = image.height, w = image.width;
  if (h <= 0 || w <= 0 || static_cast<int64_t>(image.rgb.size()) != h * w * 3)
    return InvalidArgument("'", what, "': image is empty or its pixel buffer is inconsistent");
  std::vector<float> px(h * w * c);
  for (int64_t i = 0; i < h * w; ++i) {
    const uint8_t* rgb = &image.rgb[i * 3];
    if (c == 1) {
      px[i] = Luma(rgb);
    } else {
      for (int64_t k = 0; k < 3; ++k) px[i * 3 + k] = rgb[k];
    }
  }

  int64_t rh = h, rw = w;
  ResizedSize(p, h, w, &rh, &rw);
  if (rh != h || rw != w) {
    px = ResizeBilinear(px, h, w, c, rh, rw, p.antialias, p.round_resized);
    h = rh;
    w = rw;
  }

  int64_t top = 0, left = 0, ch = h, cw = w;
  if (p.crop_height > 0) {
    if (p.crop_height > h || p.crop_width > w)
      return InvalidArgument("'", what, "': center crop ", p.crop_height, "x", p.crop_width,
                             " is larger than the (resized) image ", h, "x", w);
    ch = p.crop_height;
    cw = p.crop_width;
    // torchvision: int(round((h - ch) / 2.0)), Python's round-half-even,
    // which nearbyint gives in the default rounding mode.
    top = static_cast<int64_t>(std::nearbyint((h - ch) / 2.0));
    left = static_cast<int64_t>(std::nearbyint((w - cw) / 2.0));
  }

  int64_t oh = ch, ow = cw;
  if (p.pad_height > 0) {
    if (p.pad_height < ch || p.pad_width < cw)
      return InvalidArgument("'", what, "': pad size ", p.pad_height, "x", p.pad_width,
                             " is smaller than the (resized) image ", ch, "x", cw);
    oh = p.pad_height;
    ow = p.pad_width;
  }
  Tensor out = p.layout == ImageLayout::kNCHW ? Tensor(DType::kF32, {c, oh, ow})
                                              : Tensor(DType::kF32, {oh, ow, c});
  float* dst = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) dst[i] = p.pad_value;

  // PyTorch divides by 255 (ToTensor); dividing instead of multiplying by
  // 1/255 keeps the result bit-identical.
  const double inv = 1.0 / static_cast<double>(p.scale);
  const bool divide = std::fabs(inv - std::nearbyint(inv)) < 1e-3 && std::fabs(inv) >= 1.0;
  const float divisor = static_cast<float>(std::nearbyint(inv));
  for (int64_t k = 0; k < c; ++k) {
    const float mean = PerChannel(p.mean, k, 0.0f), std = PerChannel(p.std, k, 1.0f);
    const bool normalise = !p.mean.empty() || !p.std.empty();
    for (int64_t y = 0; y < ch; ++y) {
      for (int64_t x = 0; x < cw; ++x) {
        float v = px[((top + y) * w + (left + x)) * c + k];
        v = divide ? v / divisor : v * p.scale;
        if (normalise) v = (v - mean) / std;
        const int64_t at =
            p.layout == ImageLayout::kNCHW ? (k * oh + y) * ow + x : (y * ow + x) * c + k;
        dst[at] = v;
      }
    }
  }
  return out;
}

}  // namespace octet::data
