// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Reading and writing Hugging Face safetensors files (https://github.com/huggingface/safetensors,
/// format version of 2022+): an 8-byte little-endian header length N, N bytes of JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`,
/// then the data buffer, offsets relative to its start. F32 is written; F32, F16 and BF16
/// are read and widened to float exactly.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/io/atomic_file.hpp"

namespace rlhf::io {

/// Element types this reader understands (safetensors names "F32", "F16", "BF16").
enum class dtype { f32, f16, bf16 };

/// Bytes per element of `t`.
constexpr std::uint64_t dtype_size(dtype t) noexcept { return t == dtype::f32 ? 4 : 2; }
/// The safetensors spelling of `t`.
constexpr std::string_view dtype_name(dtype t) noexcept {
  return t == dtype::f32 ? "F32" : t == dtype::f16 ? "F16" : "BF16";
}

/// One tensor of a safetensors file: name, element type, shape, and its byte range
/// [begin, end) relative to the start of the data buffer.
struct tensor_info {
  std::string name;
  dtype type = dtype::f32;
  std::vector<index_t> shape;
  std::uint64_t begin = 0, end = 0;

  /// Number of elements (1 for a scalar of shape []).
  index_t numel() const noexcept {
    index_t n = 1;
    for (index_t d : shape) n *= d;
    return n;
  }
};

/// IEEE binary16 bits to float, exact for every input (normals, subnormals, ±0, ±inf, NaN with
/// its payload). Done by hand because std::float16_t is C++23 and not on every compiler.
constexpr float f16_to_f32(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits = 0;
  if (exp == 0x1f) {  // inf or NaN: keep the payload
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {  // normal: rebias 15 -> 127
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {  // signed zero
    bits = sign;
  } else {  // subnormal 2^-14 * m/1024: normalise, every one is a normal float
    std::uint32_t e = 113;  // exponent field of 2^-14 in binary32
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

/// bfloat16 bits to float: the upper half of a binary32, so the widening is exact.
constexpr float bf16_to_f32(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

namespace detail {

inline std::uint64_t load_le64(const unsigned char* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// Product of non-negative extents with overflow detection.
inline bool checked_numel(const std::vector<index_t>& shape, std::uint64_t& out) noexcept {
  std::uint64_t n = 1;
  for (index_t d : shape) {
    const auto u = static_cast<std::uint64_t>(d);
    if (u != 0 && n > std::numeric_limits<std::uint64_t>::max() / u) return false;
    n *= u;
  }
  out = n;
  return true;
}

inline std::string shape_string(std::span<const index_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace detail

/// A validated safetensors file. The constructor reads and checks the whole header (sizes,
/// JSON, dtypes, shapes, offsets, overlaps) so a malformed file fails at open time with an
/// rlhf::format_error naming the file and the problem, never later with a crash. Tensor data
/// is read on demand.
class safetensors_reader {
 public:
  explicit safetensors_reader(std::filesystem::path path) : path_(std::move(path)) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path_, ec))
      RLHF_THROW(io_error, "cannot read ", path_.string(), ": no such file; check the path");
    const std::uint64_t file_size = std::filesystem::file_size(path_, ec);
    if (ec) RLHF_THROW(io_error, "cannot read the size of ", path_.string(), ": ", ec.message());
    if (file_size < 8)
      fail("file is ", file_size, " bytes, shorter than the 8-byte header length; the file is truncated");
    std::ifstream is(path_, std::ios::binary);
    if (!is) RLHF_THROW(io_error, "cannot open ", path_.string());
    unsigned char len_bytes[8];
    is.read(reinterpret_cast<char*>(len_bytes), 8);
    if (is.gcount() != 8) RLHF_THROW(io_error, "reading ", path_.string(), " failed");
    const std::uint64_t header_len = detail::load_le64(len_bytes);
    if (header_len > file_size - 8)
      fail("header length ", header_len, " runs past the end of the file (", file_size,
           " bytes); the file is truncated or not a safetensors file");
    // The reference implementation caps the header at 100 MB; a larger one is corruption.
    if (header_len > 100'000'000u) fail("header length ", header_len, " exceeds the 100 MB limit");
    std::string header(static_cast<std::size_t>(header_len), '\0');
    is.read(header.data(), static_cast<std::streamsize>(header_len));
    if (static_cast<std::uint64_t>(is.gcount()) != header_len)
      RLHF_THROW(io_error, "reading the header of ", path_.string(), " failed");
    data_start_ = 8 + header_len;
    parse_header(header, file_size - data_start_);
  }

  const std::filesystem::path& path() const noexcept { return path_; }
  /// Every tensor in data-buffer order (the order they were written).
  const std::vector<tensor_info>& tensors() const noexcept { return tensors_; }
  bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }
  /// The tensor called `name`; rlhf::format_error naming the tensor and the file if absent.
  const tensor_info& info(std::string_view name) const {
    const auto it = index_.find(name);
    if (it == index_.end())
      fail("no tensor named \"", name, "\" (the file has ", tensors_.size(),
           " tensors); check the checkpoint matches the model");
    return tensors_[it->second];
  }
  /// The `__metadata__` string map (empty when the file has none).
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

  /// The tensor's elements as float (F16 and BF16 widened exactly), row-major.
  std::vector<float> read_f32(std::string_view name) const {
    const tensor_info& t = info(name);
    std::vector<float> out(static_cast<std::size_t>(t.numel()));
    read_into(t, out);
    return out;
  }
  /// As read_f32, into `out`, which must hold exactly numel elements (rlhf::invalid_argument).
  void read_f32_into(std::string_view name, std::span<float> out) const {
    const tensor_info& t = info(name);
    if (static_cast<index_t>(out.size()) != t.numel())
      RLHF_THROW(invalid_argument, "read_f32_into(\"", name, "\") from ", path_.string(), ": the tensor has ",
                 t.numel(), " elements (shape ", detail::shape_string(t.shape), ") but the output holds ",
                 out.size(), "; size the output to the tensor");
    read_into(t, out);
  }

 private:
  template <class... A>
  [[noreturn]] void fail(const A&... parts) const {
    RLHF_THROW(format_error, path_.string(), ": ", parts...);
  }

  void parse_header(const std::string& text, std::uint64_t data_size) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail("header is not valid JSON (", e.what(), "); the file is corrupt or not a safetensors file");
    }
    if (!j.is_object()) fail("header is not a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      const nlohmann::json& v = it.value();
      if (key == "__metadata__") {
        if (!v.is_object()) fail("__metadata__ is not an object of strings");
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (!m.value().is_string()) fail("__metadata__ value of \"", m.key(), "\" is not a string");
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      tensors_.push_back(parse_tensor(key, v, data_size));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](const tensor_info& a, const tensor_info& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    for (std::size_t i = 1; i < tensors_.size(); ++i) {
      const tensor_info& p = tensors_[i - 1];
      const tensor_info& c = tensors_[i];
      if (c.begin < p.end)
        fail("tensors \"", p.name, "\" [", p.begin, ", ", p.end, ") and \"", c.name, "\" [", c.begin, ", ",
             c.end, ") overlap in the data buffer");
    }
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
  }

  tensor_info parse_tensor(const std::string& name, const nlohmann::json& v, std::uint64_t data_size) const {
    tensor_info t;
    t.name = name;
    if (!v.is_object()) fail("entry \"", name, "\" is not an object");
    const auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) fail("tensor \"", name, "\" has no \"dtype\" string");
    const std::string d = dt->get<std::string>();
    if (d == "F32") t.type = dtype::f32;
    else if (d == "F16") t.type = dtype::f16;
    else if (d == "BF16") t.type = dtype::bf16;
    else
      fail("tensor \"", name, "\" has unsupported dtype ", d,
           "; only F32, F16 and BF16 are read (convert the checkpoint to one of them)");
    const auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) fail("tensor \"", name, "\" has no \"shape\" array");
    for (const auto& x : *sh) {
      if (!x.is_number_unsigned()) fail("tensor \"", name, "\" has a shape entry that is not a non-negative integer");
      const auto u = x.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<index_t>::max()))
        fail("tensor \"", name, "\" has shape entry ", u, ", too large");
      t.shape.push_back(static_cast<index_t>(u));
    }
    const auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      fail("tensor \"", name, "\" needs \"data_offsets\": [begin, end] with non-negative integers");
    t.begin = (*off)[0].get<std::uint64_t>();
    t.end = (*off)[1].get<std::uint64_t>();
    if (t.begin > t.end) fail("tensor \"", name, "\" has data_offsets [", t.begin, ", ", t.end, "] with begin > end");
    if (t.end > data_size)
      fail("tensor \"", name, "\" has data_offsets [", t.begin, ", ", t.end, "] past the end of the ", data_size,
           "-byte data buffer; the file is truncated");
    std::uint64_t n = 0;
    if (!detail::checked_numel(t.shape, n) || n > std::numeric_limits<std::uint64_t>::max() / dtype_size(t.type))
      fail("tensor \"", name, "\" has shape ", detail::shape_string(t.shape), " whose size overflows");
    if (n * dtype_size(t.type) != t.end - t.begin)
      fail("tensor \"", name, "\": ", d, " shape ", detail::shape_string(t.shape), " needs ", n * dtype_size(t.type),
           " bytes but data_offsets [", t.begin, ", ", t.end, "] span ", t.end - t.begin);
    return t;
  }

  void read_into(const tensor_info& t, std::span<float> out) const {
    const std::uint64_t bytes = t.end - t.begin;
    std::ifstream is(path_, std::ios::binary);
    if (!is) RLHF_THROW(io_error, "cannot open ", path_.string(), " to read tensor \"", t.name, "\"");
    is.seekg(static_cast<std::streamoff>(data_start_ + t.begin));
    if (t.type == dtype::f32) {
      is.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(bytes));
      check_read(is, t, bytes);
      if constexpr (std::endian::native == std::endian::big) {
        for (float& f : out) {  // the file is little-endian
          const auto u = std::bit_cast<std::uint32_t>(f);
          f = std::bit_cast<float>((u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24));
        }
      }
      return;
    }
    std::vector<unsigned char> raw(static_cast<std::size_t>(bytes));
    is.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(bytes));
    check_read(is, t, bytes);
    for (std::size_t i = 0; i < out.size(); ++i) {
      const auto h = static_cast<std::uint16_t>(raw[2 * i] | (raw[2 * i + 1] << 8));
      out[i] = t.type == dtype::f16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
  }

  void check_read(std::ifstream& is, const tensor_info& t, std::uint64_t bytes) const {
    if (!is || static_cast<std::uint64_t>(is.gcount()) != bytes)
      RLHF_THROW(io_error, "reading tensor \"", t.name, "\" from ", path_.string(),
                 " failed (the file changed or shrank after it was opened)");
  }

  std::filesystem::path path_;
  std::uint64_t data_start_ = 0;
  std::vector<tensor_info> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

/// A float32 tensor to save: its name, row-major shape and elements (not owned).
struct tensor_ref {
  std::string name;
  std::vector<index_t> shape;
  std::span<const float> data;
};

/// Writes `tensors` as an F32 safetensors file, data in the given order, with the header
/// padded with spaces to a multiple of 8 bytes (as the reference implementation does, so the
/// data buffer is aligned), atomically (see write_atomically).
/// rlhf::invalid_argument when a name is empty, repeated or "__metadata__", or when a
/// tensor's data size differs from the product of its shape.
inline void save_safetensors(const std::filesystem::path& path, std::span<const tensor_ref> tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  std::uint64_t offset = 0;
  for (const tensor_ref& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      RLHF_THROW(invalid_argument, "save_safetensors(", path.string(), "): invalid tensor name \"", t.name,
                 "\"; give each tensor a non-empty name other than __metadata__");
    if (header.contains(t.name))
      RLHF_THROW(invalid_argument, "save_safetensors(", path.string(), "): tensor \"", t.name,
                 "\" appears twice; names must be unique");
    std::uint64_t n = 0;
    for (index_t d : t.shape)
      if (d < 0)
        RLHF_THROW(invalid_argument, "save_safetensors(", path.string(), "): tensor \"", t.name,
                   "\" has a negative extent in shape ", detail::shape_string(t.shape));
    if (!detail::checked_numel(t.shape, n) || n != t.data.size())
      RLHF_THROW(invalid_argument, "save_safetensors(", path.string(), "): tensor \"", t.name, "\" has shape ",
                 detail::shape_string(t.shape), " but ", t.data.size(), " elements; make them agree");
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * n}}};
    offset += 4 * n;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    RLHF_THROW(invalid_argument, "save_safetensors(", path.string(), "): a tensor name or metadata string is not "
               "valid UTF-8 (", e.what(), ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  write_atomically(path, [&](std::ostream& os) {
    unsigned char len[8];
    std::uint64_t n = text.size();
    for (int i = 0; i < 8; ++i, n >>= 8) len[i] = static_cast<unsigned char>(n & 0xffu);
    os.write(reinterpret_cast<const char*>(len), 8);
    os.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const tensor_ref& t : tensors) {
      if constexpr (std::endian::native == std::endian::little) {
        os.write(reinterpret_cast<const char*>(t.data.data()), static_cast<std::streamsize>(t.data.size_bytes()));
      } else {
        for (float f : t.data) {
          const auto u = std::bit_cast<std::uint32_t>(f);
          const char b[4] = {char(u), char(u >> 8), char(u >> 16), char(u >> 24)};
          os.write(b, 4);
        }
      }
    }
  });
}

}  // namespace rlhf::io
