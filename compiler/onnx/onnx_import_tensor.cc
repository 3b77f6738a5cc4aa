// TensorProto decoding (every storage form, external data) and encoding, the
// ONNX element-type table, and the protobuf parsing shared by the importer.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <system_error>

#include "octet/onnx.h"
#include "onnx_internal.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ONNX raw_data is little endian; the importer copies it as is");

namespace octet::onnx_internal {
namespace fs = std::filesystem;

namespace {

// Octet's tensors are capped at 2^40 elements (see Tensor::Create); checking
// before any allocation keeps a hostile shape from allocating first.
constexpr int64_t kMaxElements = int64_t{1} << 40;

const char* OnnxTypeName(int32_t id) {
  static const char* const kNames[] = {
      "UNDEFINED",      "FLOAT",      "UINT8",          "INT8",       "UINT16",   "INT16",
      "INT32",          "INT64",      "STRING",         "BOOL",       "FLOAT16",  "DOUBLE",
      "UINT32",         "UINT64",     "COMPLEX64",      "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN",
      "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4",      "INT4"};
  if (id >= 0 && id < static_cast<int32_t>(sizeof(kNames) / sizeof(kNames[0]))) return kNames[id];
  return "unknown";
}

Expected<int64_t> ParseNonNegative(const std::string& text, const std::string& what) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end || v < 0 || text.empty())
    return InvalidArgument(what, " is '", text, "', expected a non-negative integer");
  return v;
}

// True when `path` lies inside `folder` (both already canonical).
bool IsInside(const fs::path& path, const fs::path& folder) {
  auto p = path.begin();
  for (auto f = folder.begin(); f != folder.end(); ++f, ++p) {
    if (f->empty()) continue;  // trailing separator
    if (p == path.end() || *p != *f) return false;
  }
  return true;
}

// Where a tensor's external bytes are, after checking that the file stays
// inside the model folder and holds the bytes the shape needs. Nothing is
// allocated before these checks pass.
struct ExternalSource {
  fs::path file;
  int64_t offset = 0;
};

Expected<ExternalSource> LocateExternalData(const onnx::TensorProto& proto, const std::string& what,
                                            const std::string& model_dir, int64_t nbytes) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset") {
      OCTET_ASSIGN_OR_RETURN(offset, ParseNonNegative(entry.value(), what + ": external offset"));
    } else if (entry.key() == "length") {
      OCTET_ASSIGN_OR_RETURN(length, ParseNonNegative(entry.value(), what + ": external length"));
    }
  }
  if (location.empty()) return InvalidArgument(what, ": external data has no 'location' key");
  if (model_dir.empty())
    return InvalidArgument(what, ": has external data ('", location,
                           "') but the model was not loaded from a folder");
  const fs::path rel(location);
  if (rel.is_absolute())
    return InvalidArgument(what, ": external data location '", location,
                           "' is an absolute path; it must be relative to the model's folder");
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(fs::absolute(model_dir, ec), ec);
  if (ec)
    return IoError(what, ": cannot resolve the model folder '", model_dir, "': ", ec.message());
  // weakly_canonical resolves symlinks and '..', so a link pointing out of the
  // folder is caught by the same check as a '../' path.
  const fs::path full = fs::weakly_canonical(base / rel, ec);
  if (ec) return IoError(what, ": cannot resolve external data '", location, "': ", ec.message());
  if (!IsInside(full, base))
    return InvalidArgument(what, ": external data location '", location,
                           "' resolves outside the model's folder '", base.string(), "'");
  if (!fs::is_regular_file(full, ec))
    return NotFound(what, ": external data file '", full.string(), "' does not exist");
  const auto size = static_cast<int64_t>(fs::file_size(full, ec));
  if (ec) return IoError(what, ": cannot stat '", full.string(), "': ", ec.message());
  if (length >= 0 && length != nbytes)
    return InvalidArgument(what, ": external data length is ", length, " bytes but its type needs ",
                           nbytes, " bytes");
  if (offset > size || nbytes > size - offset)
    return OutOfRange(what, ": external data [offset ", offset, ", ", nbytes,
                      " bytes) lies past the end of '", full.string(), "' (", size, " bytes)");
  return ExternalSource{full, offset};
}

Status ReadExternalData(const ExternalSource& src, const std::string& what, int64_t nbytes,
                        void* out) {
  std::ifstream in(src.file, std::ios::binary);
  if (!in) return IoError(what, ": cannot open '", src.file.string(), "'");
  in.seekg(src.offset);
  in.read(static_cast<char*>(out), nbytes);
  if (!in || in.gcount() != nbytes)
    return IoError(what, ": short read from '", src.file.string(), "' at offset ", src.offset);
  return Status::Ok();
}

// Copies `values` into `out` converted to the storage type of `dtype`. Used for
// int32_data, whose entries hold 8/16-bit integers, bools and f16/bf16 bits.
void StoreNarrow(const google::protobuf::RepeatedField<int32_t>& values, DType dtype, void* out) {
  const int bits = DTypeBits(dtype);
  for (int i = 0; i < values.size(); ++i) {
    const auto v = static_cast<uint32_t>(values[i]);
    if (dtype == DType::kBool) {
      static_cast<uint8_t*>(out)[i] = v != 0;
    } else if (bits == 8) {
      static_cast<uint8_t*>(out)[i] = static_cast<uint8_t>(v);
    } else if (bits == 16) {
      static_cast<uint16_t*>(out)[i] = static_cast<uint16_t>(v);
    } else {
      static_cast<uint32_t*>(out)[i] = v;
    }
  }
}

// Which typed field holds a dtype's values when raw_data is not used.
enum class Field { kFloat, kInt32, kInt64, kDouble, kUint64 };
Field TypedField(DType t) {
  switch (t) {
    case DType::kF32:
      return Field::kFloat;
    case DType::kI64:
      return Field::kInt64;
    case DType::kF64:
      return Field::kDouble;
    case DType::kU32:
    case DType::kU64:
      return Field::kUint64;
    default:
      return Field::kInt32;
  }
}

const char* const kFieldNames[] = {"float_data", "int32_data", "int64_data", "double_data",
                                   "uint64_data"};

int64_t FieldCount(const onnx::TensorProto& p, Field f) {
  switch (f) {
    case Field::kFloat:
      return p.float_data_size();
    case Field::kInt32:
      return p.int32_data_size();
    case Field::kInt64:
      return p.int64_data_size();
    case Field::kDouble:
      return p.double_data_size();
    case Field::kUint64:
      return p.uint64_data_size();
  }
  return 0;
}

// Checks that the typed field for `dtype` holds exactly the values the shape
// needs (and that no other field is used); returns that count.
Expected<int64_t> CheckTypedFields(const onnx::TensorProto& p, const std::string& what, DType dtype,
                                   int64_t n) {
  const Field field = TypedField(dtype);
  const char* name = kFieldNames[static_cast<int>(field)];
  for (int other = 0; other < 5; ++other) {
    const int64_t count = FieldCount(p, static_cast<Field>(other));
    if (static_cast<Field>(other) != field && count > 0)
      return InvalidArgument(what, ": stores ", DTypeName(dtype), " values in ", kFieldNames[other],
                             " (", count, " values); ", DTypeName(dtype),
                             " belongs in raw_data or ", name);
  }
  const int64_t have = FieldCount(p, field);
  // 4-bit values are packed two per int32_data entry (one byte each), like
  // raw_data; one value per entry is accepted too.
  const bool packed4 = dtype == DType::kI4 || dtype == DType::kU4;
  if (have == n || (packed4 && have == (n + 1) / 2)) return have;
  return InvalidArgument(what, ": has ", have, " values in ", name, " but its shape needs ",
                         packed4 ? (n + 1) / 2 : n);
}

void DecodeTypedFields(const onnx::TensorProto& p, DType dtype, int64_t n, int64_t count,
                       Tensor& t) {
  switch (TypedField(dtype)) {
    case Field::kFloat:
      if (n) std::memcpy(t.raw(), p.float_data().data(), 4 * n);
      break;
    case Field::kInt64:
      if (n) std::memcpy(t.raw(), p.int64_data().data(), 8 * n);
      break;
    case Field::kDouble:
      if (n) std::memcpy(t.raw(), p.double_data().data(), 8 * n);
      break;
    case Field::kUint64:
      for (int64_t i = 0; i < n; ++i) {
        if (dtype == DType::kU64)
          t.data<uint64_t>()[i] = p.uint64_data(static_cast<int>(i));
        else
          t.data<uint32_t>()[i] = static_cast<uint32_t>(p.uint64_data(static_cast<int>(i)));
      }
      break;
    case Field::kInt32:
      if (dtype != DType::kI4 && dtype != DType::kU4) {
        StoreNarrow(p.int32_data(), dtype, t.raw());
      } else if (count != n) {  // packed bytes
        for (int64_t i = 0; i < count; ++i)
          t.data<uint8_t>()[i] = static_cast<uint8_t>(p.int32_data(static_cast<int>(i)));
      } else {
        for (int64_t i = 0; i < n; ++i) t.SetFromDouble(i, p.int32_data(static_cast<int>(i)));
      }
      break;
  }
}

}  // namespace

Status ParseMessage(std::string_view bytes, google::protobuf::Message* message,
                    const std::string& what) {
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    return InvalidArgument(what, " is ", bytes.size(),
                           " bytes; protobuf messages are limited to 2 GB (use external data)");
  google::protobuf::io::ArrayInputStream array(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&array);
  coded.SetTotalBytesLimit(INT_MAX);
  if (!message->ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
    return DataLoss(what, " is not a valid ", message->GetTypeName(),
                    " (truncated or corrupt protobuf, ", bytes.size(), " bytes)");
  return Status::Ok();
}

Expected<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return InvalidArgument("'", path, "' is a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open '", path, "': ", std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return IoError("cannot determine the size of '", path, "'");
  if (size > INT_MAX)  // checked before reading gigabytes that cannot be parsed
    return InvalidArgument("'", path, "' is ", size,
                           " bytes; protobuf files are limited to 2 GB (use external data)");
  in.seekg(0, std::ios::beg);
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), size);
  if (!in || in.gcount() != size) return IoError("short read from '", path, "'");
  return bytes;
}

std::string FolderOf(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

Expected<DType> DTypeFromOnnx(int32_t id, const std::string& what, bool allow_undefined) {
  if (id == kOnnxUndefined) {
    if (allow_undefined) return DType::kUndefined;
    return InvalidArgument(what, ": data type is UNDEFINED (0)");
  }
  const std::optional<DType> dtype = DTypeFromOnnxTypeId(id);
  // The FNUZ fp8 variants encode zero, NaN and the exponent bias differently
  // from E4M3FN/E5M2, so they have no DType: mapping them would change values.
  if (dtype == DType::kString || (!dtype && id >= kOnnxComplex64 && id <= kOnnxInt4))
    return Unimplemented(what, ": unsupported data type ", OnnxTypeName(id), " (", id, ")");
  if (!dtype) return InvalidArgument(what, ": unknown ONNX data type id ", id);
  return *dtype;
}

Expected<int32_t> DTypeToOnnx(DType dtype, const std::string& what) {
  const std::optional<int64_t> id = OnnxTypeIdOf(dtype);
  if (!id || dtype == DType::kString)
    return Unimplemented(what, ": dtype ", DTypeName(dtype), " has no ONNX equivalent");
  return static_cast<int32_t>(*id);
}

Expected<Tensor> TensorFromProto(const onnx::TensorProto& p, const std::string& what,
                                 const std::string& model_dir) {
  OCTET_ASSIGN_OR_RETURN(DType dtype, DTypeFromOnnx(p.data_type(), what));
  if (p.has_segment()) return Unimplemented(what, ": segmented tensors are not supported");
  std::vector<int64_t> dims(p.dims().begin(), p.dims().end());
  OCTET_ASSIGN_OR_RETURN(int64_t n, CheckedProduct(dims, what));
  if (n > kMaxElements)
    return OutOfRange(what, ": has ", n, " elements, more than Octet supports (2^40)");
  const int64_t nbytes = DTypeStorageBytes(dtype, n);

  // Every storage form is checked against the shape before the tensor is
  // allocated, so a hostile shape cannot make the importer allocate.
  const bool external = p.data_location() == onnx::TensorProto::EXTERNAL;
  ExternalSource source;
  int64_t typed_count = 0;
  if (external) {
    OCTET_ASSIGN_OR_RETURN(source, LocateExternalData(p, what, model_dir, nbytes));
  } else if (p.has_raw_data()) {
    if (static_cast<int64_t>(p.raw_data().size()) != nbytes)
      return InvalidArgument(what, ": raw_data has ", p.raw_data().size(), " bytes but ",
                             DTypeName(dtype), Shape::FromStatic(dims).ToString(), " needs ",
                             nbytes, " bytes");
  } else {
    OCTET_ASSIGN_OR_RETURN(typed_count, CheckTypedFields(p, what, dtype, n));
  }
  OCTET_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(dtype, dims));
  if (external) {
    OCTET_RETURN_IF_ERROR(ReadExternalData(source, what, nbytes, t.raw()));
  } else if (p.has_raw_data()) {
    if (nbytes > 0) std::memcpy(t.raw(), p.raw_data().data(), nbytes);
  } else {
    DecodeTypedFields(p, dtype, n, typed_count, t);
  }
  if (dtype == DType::kBool) {  // any non-zero byte is true; kernels expect 0/1
    for (int64_t i = 0; i < n; ++i) t.data<uint8_t>()[i] = t.data<uint8_t>()[i] != 0;
  }
  return t;
}

Status TensorToProto(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto) {
  OCTET_ASSIGN_OR_RETURN(int32_t id, DTypeToOnnx(tensor.dtype(), "tensor '" + name + "'"));
  proto->set_name(name);
  proto->set_data_type(id);
  for (int64_t d : tensor.dims()) proto->add_dims(d);
  proto->set_raw_data(
      std::string(static_cast<const char*>(tensor.raw()), static_cast<size_t>(tensor.nbytes())));
  return Status::Ok();
}

}  // namespace octet::onnx_internal

namespace octet {

Expected<Tensor> TensorFromProtoBytes(std::string_view serialized_tensor_proto,
                                      const std::string& what) {
  onnx::TensorProto proto;
  OCTET_RETURN_IF_ERROR(onnx_internal::ParseMessage(serialized_tensor_proto, &proto, what));
  return onnx_internal::TensorFromProto(proto, what, "");
}

Expected<Tensor> ReadTensorProtoFile(const std::string& path) {
  OCTET_ASSIGN_OR_RETURN(std::string bytes, onnx_internal::ReadFile(path));
  onnx::TensorProto proto;
  const std::string what = "'" + path + "'";
  OCTET_RETURN_IF_ERROR(onnx_internal::ParseMessage(bytes, &proto, what));
  return onnx_internal::TensorFromProto(proto, what, onnx_internal::FolderOf(path));
}

}  // namespace octet
