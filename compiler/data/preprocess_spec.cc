// The compact preprocessing spec of the CLI ("imagenet", "resize=256,crop=224,...").
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "octet/data/image_preprocess.h"

namespace octet::data {
namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

Expected<double> ParseFloat(std::string_view key, std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v))
    return InvalidArgument("--preprocess ", key, ": expected a number, got '", s, "'");
  return v;
}

Expected<int64_t> ParsePositive(std::string_view key, std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || v <= 0 || v > (1 << 20))
    return InvalidArgument("--preprocess ", key, ": expected a positive size, got '", s, "'");
  return static_cast<int64_t>(v);
}

// "224" -> 224x224, "480x640" -> 480x640 (height x width).
Status ParseSize(std::string_view key, std::string_view text, int64_t* h, int64_t* w) {
  const size_t x = text.find('x');
  if (x == std::string_view::npos) {
    OCTET_ASSIGN_OR_RETURN(*h, ParsePositive(key, text));
    *w = *h;
    return Status::Ok();
  }
  OCTET_ASSIGN_OR_RETURN(*h, ParsePositive(key, text.substr(0, x)));
  OCTET_ASSIGN_OR_RETURN(*w, ParsePositive(key, text.substr(x + 1)));
  return Status::Ok();
}

Expected<std::vector<float>> ParseFloats(std::string_view key, std::string_view text) {
  std::vector<float> out;
  for (std::string_view part : Split(text, ':')) {
    OCTET_ASSIGN_OR_RETURN(double v, ParseFloat(key, part));
    out.push_back(static_cast<float>(v));
  }
  return out;
}

Expected<bool> ParseBool(std::string_view key, std::string_view text) {
  if (text == "1" || text == "true" || text == "on") return true;
  if (text == "0" || text == "false" || text == "off") return false;
  return InvalidArgument("--preprocess ", key, ": expected 0 or 1, got '", std::string(text), "'");
}

// Shortest decimal form that reads back as the same float.
std::string FloatText(float v) {
  char buf[32];
  for (int digits = 6; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*g", digits, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  return buf;
}

std::string FloatsText(const std::vector<float>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ":" : "") + FloatText(v[i]);
  return s;
}

std::string SizeText(int64_t h, int64_t w) {
  return h == w ? std::to_string(h) : std::to_string(h) + "x" + std::to_string(w);
}

Status ApplyItem(std::string_view item, ImagePreprocess* p) {
  const size_t eq = item.find('=');
  if (eq == std::string_view::npos) {
    if (item == "imagenet") {
      *p = ImagenetPreprocess();
    } else if (item == "sam") {
      *p = SamPreprocess();
    } else if (item.substr(0, 4) == "sam:") {
      OCTET_ASSIGN_OR_RETURN(int64_t size, ParsePositive("sam:SIZE", item.substr(4)));
      *p = SamPreprocess(size);
    } else if (item == "default") {
      *p = ImagePreprocess();
    } else if (item == "gray" || item == "grayscale") {
      p->channels = 1;
    } else {
      return InvalidArgument("--preprocess: unknown preset '", std::string(item),
                             "' (expected imagenet, sam, sam:SIZE, default, gray or KEY=VALUE)");
    }
    return Status::Ok();
  }
  const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
  if (key == "resize") {
    if (value == "none") {
      p->resize_mode = ResizeMode::kNone;
    } else if (value.find('x') != std::string_view::npos) {
      p->resize_mode = ResizeMode::kExact;
      return ParseSize(key, value, &p->resize_height, &p->resize_width);
    } else {
      p->resize_mode = ResizeMode::kShorterSide;
      OCTET_ASSIGN_OR_RETURN(p->resize_size, ParsePositive(key, value));
    }
  } else if (key == "resize_longest") {
    p->resize_mode = ResizeMode::kLongerSide;
    OCTET_ASSIGN_OR_RETURN(p->resize_size, ParsePositive(key, value));
  } else if (key == "crop") {
    if (value == "none") {
      p->crop_height = p->crop_width = 0;
      return Status::Ok();
    }
    return ParseSize(key, value, &p->crop_height, &p->crop_width);
  } else if (key == "pad") {
    if (value == "none") {
      p->pad_height = p->pad_width = 0;
      return Status::Ok();
    }
    return ParseSize(key, value, &p->pad_height, &p->pad_width);
  } else if (key == "pad_value") {
    OCTET_ASSIGN_OR_RETURN(double v, ParseFloat(key, value));
    p->pad_value = static_cast<float>(v);
  } else if (key == "scale") {
    const size_t slash = value.find('/');
    double v = 0;
    if (slash == std::string_view::npos) {
      OCTET_ASSIGN_OR_RETURN(v, ParseFloat(key, value));
    } else {
      OCTET_ASSIGN_OR_RETURN(double num, ParseFloat(key, value.substr(0, slash)));
      OCTET_ASSIGN_OR_RETURN(double den, ParseFloat(key, value.substr(slash + 1)));
      if (den == 0) return InvalidArgument("--preprocess scale: division by zero");
      v = num / den;
    }
    p->scale = static_cast<float>(v);
  } else if (key == "mean" || key == "std") {
    std::vector<float>& dst = key == "mean" ? p->mean : p->std;
    if (value == "none") {
      dst.clear();
    } else {
      OCTET_ASSIGN_OR_RETURN(dst, ParseFloats(key, value));
    }
  } else if (key == "layout") {
    if (value == "nchw" || value == "NCHW") {
      p->layout = ImageLayout::kNCHW;
    } else if (value == "nhwc" || value == "NHWC") {
      p->layout = ImageLayout::kNHWC;
    } else {
      return InvalidArgument("--preprocess layout: expected nchw or nhwc, got '",
                             std::string(value), "'");
    }
  } else if (key == "channels") {
    OCTET_ASSIGN_OR_RETURN(int64_t v, ParsePositive(key, value));
    p->channels = static_cast<int>(v);
  } else if (key == "antialias") {
    OCTET_ASSIGN_OR_RETURN(p->antialias, ParseBool(key, value));
  } else if (key == "round") {
    OCTET_ASSIGN_OR_RETURN(p->round_resized, ParseBool(key, value));
  } else {
    return InvalidArgument(
        "--preprocess: unknown key '", std::string(key),
        "' (expected resize, resize_longest, crop, scale, mean, std, pad, pad_value, layout, "
        "channels, antialias or round)");
  }
  return Status::Ok();
}

}  // namespace

Expected<ImagePreprocess> ParsePreprocessSpec(std::string_view spec) {
  ImagePreprocess p;
  for (std::string_view item : Split(spec, ',')) {
    if (item.empty()) continue;
    OCTET_RETURN_IF_ERROR(ApplyItem(item, &p));
  }
  OCTET_RETURN_IF_ERROR(
      ValidatePreprocess(p).WithContext("--preprocess '" + std::string(spec) + "'"));
  return p;
}

std::string DescribePreprocess(const ImagePreprocess& p) {
  const ImagePreprocess d;
  std::vector<std::string> items;
  if (p.channels != d.channels) items.push_back("channels=" + std::to_string(p.channels));
  switch (p.resize_mode) {
    case ResizeMode::kNone:
      break;
    case ResizeMode::kShorterSide:
      items.push_back("resize=" + std::to_string(p.resize_size));
      break;
    case ResizeMode::kLongerSide:
      items.push_back("resize_longest=" + std::to_string(p.resize_size));
      break;
    case ResizeMode::kExact:
      items.push_back("resize=" + std::to_string(p.resize_height) + "x" +
                      std::to_string(p.resize_width));
      break;
  }
  if (p.antialias != d.antialias) items.push_back("antialias=0");
  if (p.round_resized != d.round_resized) items.push_back("round=0");
  if (p.crop_height > 0) items.push_back("crop=" + SizeText(p.crop_height, p.crop_width));
  const double inv = 1.0 / static_cast<double>(p.scale);
  if (std::fabs(inv - std::nearbyint(inv)) < 1e-3 && inv > 1.5)
    items.push_back("scale=1/" + std::to_string(static_cast<int64_t>(std::nearbyint(inv))));
  else
    items.push_back("scale=" + FloatText(p.scale));
  if (!p.mean.empty()) items.push_back("mean=" + FloatsText(p.mean));
  if (!p.std.empty()) items.push_back("std=" + FloatsText(p.std));
  if (p.pad_height > 0) items.push_back("pad=" + SizeText(p.pad_height, p.pad_width));
  if (p.pad_value != d.pad_value) items.push_back("pad_value=" + FloatText(p.pad_value));
  items.push_back(p.layout == ImageLayout::kNCHW ? "layout=nchw" : "layout=nhwc");
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) s += (i ? "," : "") + items[i];
  return s;
}

}  // namespace octet::data
