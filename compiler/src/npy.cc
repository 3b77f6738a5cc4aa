#include "octet/npy.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace octet {
namespace {

struct NpyType {
  const char* descr;
  DType dtype;
};
constexpr NpyType kTypes[] = {
    {"<f4", DType::kF32}, {"<f8", DType::kF64}, {"<f2", DType::kF16}, {"|i1", DType::kI8},
    {"|u1", DType::kU8},  {"<i2", DType::kI16}, {"<u2", DType::kU16}, {"<i4", DType::kI32},
    {"<u4", DType::kU32}, {"<i8", DType::kI64}, {"<u8", DType::kU64}, {"|b1", DType::kBool},
};

// Value of `key` in the header dict, e.g. 'descr': '<f4' -> "<f4" (quotes removed)
// or 'shape': (2, 3) -> "(2, 3)".
bool HeaderField(const std::string& header, const std::string& key, std::string& out) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return false;
  size_t p = header.find(':', k);
  if (p == std::string::npos) return false;
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  if (p >= header.size()) return false;
  if (header[p] == '\'') {
    const size_t e = header.find('\'', p + 1);
    if (e == std::string::npos) return false;
    out = header.substr(p + 1, e - p - 1);
  } else if (header[p] == '(') {
    const size_t e = header.find(')', p);
    if (e == std::string::npos) return false;
    out = header.substr(p, e - p + 1);
  } else {
    size_t e = p;
    while (e < header.size() && header[e] != ',' && header[e] != '}') ++e;
    out = header.substr(p, e - p);
  }
  return true;
}

}  // namespace

Expected<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return IoError("error reading '", path, "'");
  return ss.str();
}

Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return IoError("cannot create '", tmp, "': ", std::strerror(errno));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      return IoError("error writing '", path, "'");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    return IoError("cannot move '", tmp, "' to '", path, "': ", std::strerror(err));
  }
  return Status::Ok();
}

Expected<Tensor> ParseNpy(std::string_view bytes, const std::string& what) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != "\x93NUMPY")
    return InvalidArgument(what, " is not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return DataLoss(what, " is truncated");
    header_len = 0;
    for (int i = 0; i < 4; ++i)
      header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    return Unimplemented(what, ": .npy format version ", major, " is not supported");
  }
  if (offset + header_len > bytes.size()) return DataLoss(what, " is truncated (header)");
  const std::string header(bytes.substr(offset, header_len));
  std::string descr, fortran, shape_text;
  if (!HeaderField(header, "descr", descr) || !HeaderField(header, "fortran_order", fortran) ||
      !HeaderField(header, "shape", shape_text))
    return InvalidArgument(what, ": malformed .npy header: ", header);
  if (fortran.find("True") != std::string::npos)
    return Unimplemented(what,
                         ": Fortran-ordered arrays are not supported; save with "
                         "np.ascontiguousarray");
  DType dtype = DType::kUndefined;
  for (const NpyType& t : kTypes)
    if (descr == t.descr) dtype = t.dtype;
  if (descr == "<b1" || descr == "b1") dtype = DType::kBool;
  if (dtype == DType::kUndefined)
    return Unimplemented(what, ": .npy dtype '", descr, "' is not supported");
  std::vector<int64_t> dims;
  std::string num;
  for (char c : shape_text) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      num += c;
    } else if (!num.empty()) {
      if (num.size() > 18) return InvalidArgument(what, ": dimension ", num, " is too large");
      dims.push_back(std::stoll(num));
      num.clear();
    }
  }
  auto t = Tensor::Create(dtype, dims);
  if (!t.ok()) return t.status().WithContext(what);
  const size_t data_offset = offset + header_len;
  if (bytes.size() - data_offset != static_cast<size_t>(t->nbytes()))
    return DataLoss(what, ": expected ", t->nbytes(), " bytes of data for ", t->ShapeString(),
                    " but the file has ", bytes.size() - data_offset);
  if (t->nbytes() > 0) std::memcpy(t->raw(), bytes.data() + data_offset, t->nbytes());
  return t;
}

Expected<Tensor> ReadNpy(const std::string& path) {
  OCTET_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path));
  return ParseNpy(bytes, "'" + path + "'");
}

Status WriteNpy(const std::string& path, const Tensor& t) {
  const char* descr = nullptr;
  for (const NpyType& n : kTypes)
    if (n.dtype == t.dtype()) descr = n.descr;
  if (descr == nullptr)
    return Unimplemented("cannot write ", DTypeName(t.dtype()), " tensor to .npy ('", path, "')");
  std::string shape = "(";
  for (int i = 0; i < t.rank(); ++i)
    shape += std::to_string(t.dim(i)) + (t.rank() == 1 ? "," : (i + 1 < t.rank() ? ", " : ""));
  shape += ")";
  std::string header =
      "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that magic(6)+version(2)+len(2)+header is a multiple of 64, ending in '\n'.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(static_cast<const char*>(t.raw()), static_cast<size_t>(t.nbytes()));
  return WriteFileAtomically(path, out);
}

}  // namespace octet
