// Decoding with stb_image. libstb (Debian libstb-dev) compiles the
// implementation; this file only includes the declarations.
#include <stb/stb_image.h>

#include <cstring>
#include <limits>
#include <memory>

#include "octet/data/image_preprocess.h"
#include "octet/npy.h"

namespace octet::data {
namespace {

// Decoded RGB bytes above this are refused: a small compressed file can
// claim enormous dimensions.
constexpr int64_t kMaxPixels = int64_t{1} << 28;

}  // namespace

Expected<DecodedImage> DecodeImage(std::string_view bytes, const std::string& what) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return InvalidArgument("'", what, "': image file is too large (", bytes.size(), " bytes)");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, n = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &n)) {
    // stb reports "unknown image type" for a damaged header too; the magic
    // bytes tell a corrupt PNG/JPEG apart from a file of another kind.
    if (bytes.size() >= 2 && data[0] == 0xff && data[1] == 0xd8)
      return DataLoss("'", what, "': corrupt or truncated JPEG (", stbi_failure_reason(), ")");
    if (bytes.size() >= 4 && std::memcmp(data, "\x89PNG", 4) == 0)
      return DataLoss("'", what, "': corrupt or truncated PNG (", stbi_failure_reason(), ")");
    return InvalidArgument("'", what, "': not a PNG or JPEG image (", stbi_failure_reason(), ")");
  }
  if (static_cast<int64_t>(w) * h > kMaxPixels)
    return InvalidArgument("'", what, "': image is ", w, "x", h, ", more than the limit of ",
                           kMaxPixels, " pixels");
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load_from_memory(data, len, &w, &h, &n, 3),
                                                   stbi_image_free);
  if (pixels == nullptr)
    return DataLoss("'", what, "': cannot decode image (", stbi_failure_reason(), ")");
  DecodedImage image;
  image.height = h;
  image.width = w;
  image.rgb.assign(pixels.get(), pixels.get() + static_cast<size_t>(w) * h * 3);
  return image;
}

Expected<Tensor> LoadImageFile(const std::string& path, const ImagePreprocess& p) {
  OCTET_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path));
  OCTET_ASSIGN_OR_RETURN(DecodedImage image, DecodeImage(bytes, path));
  return PreprocessImage(image, p, path);
}

}  // namespace octet::data
