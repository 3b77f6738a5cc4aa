// Image decoding (stb_image) and the preprocessing every vision model wants:
// resize, center crop, scale, per-channel normalisation, padding, layout.
//
// Resizing follows PIL's Image.resize(BILINEAR), which is what torchvision's
// Resize does on PIL images: a separable triangle filter whose support grows
// with the downscale factor (antialias), applied horizontally then
// vertically, with PIL's 8-bit fixed-point arithmetic and rounding after each
// pass. For PNG inputs the `imagenet` and `sam` presets reproduce
// torchvision / segment-anything preprocessing bit for bit (tested against
// the model zoo's PyTorch inputs). Remaining differences: JPEGs are decoded by
// stb_image, not libjpeg (IDCT and chroma upsampling differ by a few levels);
// 16-bit PNGs are reduced to 8 bits by stb (high byte); EXIF orientation is
// ignored, as PIL and torchvision ignore it. torchvision pads when a center
// crop is larger than the image; Octet reports an error instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::data {

enum class ResizeMode {
  kNone,
  kShorterSide,  // shorter side -> resize_size, longer = int(size * long / short) (torchvision)
  kLongerSide,   // longer side -> resize_size, other = int(side * scale + 0.5) (SAM)
  kExact,        // resize_height x resize_width
};

// Layout of one sample: kNCHW gives [C,H,W], kNHWC gives [H,W,C]; batching
// adds the N.
enum class ImageLayout { kNCHW, kNHWC };

struct ImagePreprocess {
  int channels = 3;  // 3: RGB; 1: grayscale with PIL's "L" weights (0.299, 0.587, 0.114)
  ResizeMode resize_mode = ResizeMode::kNone;
  int64_t resize_size = 0;                      // kShorterSide / kLongerSide
  int64_t resize_height = 0, resize_width = 0;  // kExact
  bool antialias = true;      // false: plain bilinear (like torch interpolate, align_corners=0)
  bool round_resized = true;  // round to 0..255 after each resize pass, as PIL does
  int64_t crop_height = 0, crop_width = 0;  // center crop after resizing; 0: none
  float scale = 1.0f / 255.0f;              // applied to 0..255 pixel values
  std::vector<float> mean, std;             // after scaling: (x - mean) / std; one value
                                            // or one per channel; empty: none
  int64_t pad_height = 0, pad_width = 0;    // after normalising, pad bottom/right to this
  float pad_value = 0.0f;                   // size; 0: no padding
  ImageLayout layout = ImageLayout::kNCHW;
};

// torchvision Resize(256) + CenterCrop(224) + ToTensor + Normalize(ImageNet).
ImagePreprocess ImagenetPreprocess();
// segment-anything: longest side -> size, 0..255 with SAM's pixel mean/std,
// zero padding to size x size.
ImagePreprocess SamPreprocess(int64_t size = 1024);

// Compact form used by the CLI: comma-separated items applied left to right.
// A preset ("imagenet", "sam", "sam:256", "none") resets everything; keys
// then override: resize=256 (shorter side) | resize=HxW | resize_longest=1024,
// crop=224|HxW, scale=1/255|1|<float>, mean=a:b:c, std=a:b:c, pad=1024|HxW,
// pad_value=<float>, layout=nchw|nhwc, channels=1|3 (or gray),
// antialias=0|1, round=0|1.
// Example: "imagenet" or "resize=256,crop=224,scale=1/255,mean=0.5,std=0.5".
Expected<ImagePreprocess> ParsePreprocessSpec(std::string_view spec);
// The spec form of `p` (round-trips through ParsePreprocessSpec).
std::string DescribePreprocess(const ImagePreprocess& p);
// Checks sizes are positive where set and mean/std lengths fit `channels`.
Status ValidatePreprocess(const ImagePreprocess& p);

// 8-bit RGB pixels, row-major HWC.
struct DecodedImage {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> rgb;
};

// Decodes PNG or JPEG bytes (and whatever else stb_image reads) to RGB; alpha
// is dropped, grey is replicated. `what` names the file in errors.
Expected<DecodedImage> DecodeImage(std::string_view bytes, const std::string& what);
// Applies `p` to a decoded image; f32 [C,H,W] or [H,W,C].
Expected<Tensor> PreprocessImage(const DecodedImage& image, const ImagePreprocess& p,
                                 const std::string& what);
// Reads, decodes and preprocesses one file.
Expected<Tensor> LoadImageFile(const std::string& path, const ImagePreprocess& p);

// Output size of the resize step for an input of height x width.
void ResizedSize(const ImagePreprocess& p, int64_t height, int64_t width, int64_t* out_height,
                 int64_t* out_width);
// Resamples an HWC float image (values 0..255) to out_height x out_width
// with the bilinear filter described at the top of this file.
std::vector<float> ResizeBilinear(const std::vector<float>& hwc, int64_t height, int64_t width,
                                  int64_t channels, int64_t out_height, int64_t out_width,
                                  bool antialias, bool round_to_u8);

}  // namespace octet::data
