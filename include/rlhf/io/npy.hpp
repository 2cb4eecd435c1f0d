// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// NumPy `.npy` arrays at the library boundary (format spec: numpy.lib.format, versions 1-3):
/// our own strict header parser and xtensor's writer, with the checks xt::load_npy lacks: a truncated
/// file, a header whose shape promises more data than the file holds, or a dtype other than
/// the requested one is an rlhf::format_error naming the file, never a read past the end or
/// a silent reinterpretation.
#include <complex>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>
#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/io/atomic_file.hpp"

namespace rlhf::io {

namespace detail {

/// Checked header of a .npy file held in memory.
struct npy_header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::size_t> shape;
  std::size_t data_offset = 0;
};

/// The header dict of numpy.lib.format, parsed strictly (xtensor's parser is not used on
/// untrusted bytes: fuzzing found it doing out-of-range string arithmetic on malformed headers):
/// `{'descr': STR, 'fortran_order': True|False, 'shape': (INT, ...), }` with the three keys in
/// any order, each once, single or double quotes, optional trailing commas, then spaces and a
/// newline. Anything else is an rlhf::format_error naming the file and what was expected.
inline void parse_npy_dict(std::string_view text, const std::string& name, npy_header& h) {
  std::size_t i = 0;
  auto fail = [&](const char* what) {
    RLHF_THROW(format_error, name, ": malformed .npy header at byte ", i, " of its dict: expected ", what,
               "; write the file with numpy.save");
  };
  auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  };
  auto expect = [&](char c, const char* what) {
    skip_space();
    if (i >= text.size() || text[i] != c) fail(what);
    ++i;
  };
  auto quoted = [&]() {
    skip_space();
    if (i >= text.size() || (text[i] != '\'' && text[i] != '"')) fail("a quoted string");
    const char q = text[i++];
    const std::size_t end = text.find(q, i);
    if (end == std::string_view::npos) fail("a closing quote");
    const std::string out(text.substr(i, end - i));
    i = end + 1;
    return out;
  };
  bool have_descr = false, have_order = false, have_shape = false;
  expect('{', "'{'");
  for (;;) {
    skip_space();
    if (i < text.size() && text[i] == '}') {
      ++i;
      break;
    }
    const std::string key = quoted();
    expect(':', "':' after a key");
    skip_space();
    if (key == "descr" && !have_descr) {
      h.descr = quoted();
      have_descr = true;
    } else if (key == "fortran_order" && !have_order) {
      if (text.substr(i, 4) == "True") h.fortran_order = true, i += 4;
      else if (text.substr(i, 5) == "False") h.fortran_order = false, i += 5;
      else fail("True or False for 'fortran_order'");
      have_order = true;
    } else if (key == "shape" && !have_shape) {
      expect('(', "'(' opening 'shape'");
      h.shape.clear();
      for (;;) {
        skip_space();
        if (i < text.size() && text[i] == ')') {
          ++i;
          break;
        }
        if (i >= text.size() || text[i] < '0' || text[i] > '9') fail("a non-negative integer in 'shape'");
        std::size_t d = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
          if (d > (std::numeric_limits<std::size_t>::max() - 9) / 10) fail("a dimension that fits in 64 bits");
          d = d * 10 + static_cast<std::size_t>(text[i++] - '0');
        }
        if (h.shape.size() == 64) fail("at most 64 dimensions");
        h.shape.push_back(d);
        skip_space();
        if (i < text.size() && text[i] == ',') ++i;
        else if (i >= text.size() || text[i] != ')') fail("',' or ')' in 'shape'");
      }
      have_shape = true;
    } else {
      fail("one each of the keys 'descr', 'fortran_order' and 'shape'");
    }
    skip_space();
    if (i < text.size() && text[i] == ',') ++i;
    else if (i >= text.size() || text[i] != '}') fail("',' or '}' after a value");
  }
  skip_space();
  if (i != text.size()) fail("only spaces and a newline after the dict");
  if (!have_descr || !have_order || !have_shape) fail("all of 'descr', 'fortran_order' and 'shape'");
}

inline npy_header parse_npy_header(const std::string& bytes, const std::string& name) {
  static constexpr char magic[] = "\x93NUMPY";
  if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0)
    RLHF_THROW(format_error, name, ": not a .npy file (no \\x93NUMPY magic); write it with numpy.save");
  const auto major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0, offset = 0;
  auto byte = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<unsigned char>(bytes[i])); };
  if (major == 1) {
    header_len = byte(8) | (byte(9) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) RLHF_THROW(format_error, name, ": truncated .npy header");
    header_len = byte(8) | (byte(9) << 8) | (byte(10) << 16) | (byte(11) << 24);
    offset = 12;
  } else {
    RLHF_THROW(format_error, name, ": unsupported .npy format version ", static_cast<int>(major), "; versions 1 to 3 are read");
  }
  if (header_len > bytes.size() - offset)
    RLHF_THROW(format_error, name, ": header length ", header_len, " runs past the end of the file (",
               bytes.size(), " bytes); the file is truncated");
  npy_header h;
  h.data_offset = offset + header_len;
  parse_npy_dict(std::string_view(bytes).substr(offset, header_len), name, h);
  return h;
}

}  // namespace detail

/// Reads a .npy file whose dtype is exactly T's (e.g. '<f4' for float, '<i8' for int64_t);
/// C or Fortran order, returned row-major. rlhf::io_error when the file is missing;
/// rlhf::format_error when it is malformed, truncated or of another dtype.
template <class T>
xt::xarray<T> read_npy(const std::filesystem::path& path) {
  static_assert(std::is_arithmetic_v<T>, "rlhf::io::read_npy reads arrays of arithmetic types");
  const std::string bytes = read_file(path);
  const std::string name = path.string();
  const detail::npy_header h = detail::parse_npy_header(bytes, name);
  const std::string want = xt::detail::build_typestring<T>();
  if (h.descr != want)
    RLHF_THROW(format_error, name, ": holds dtype '", h.descr, "' but '", want,
               "' was requested; convert it (numpy: arr.astype('", want, "')) or read the matching type");
  std::size_t n = 1;
  for (std::size_t d : h.shape) {
    if (d != 0 && n > std::numeric_limits<std::size_t>::max() / sizeof(T) / d)
      RLHF_THROW(format_error, name, ": shape in the header overflows");
    n *= d;
  }
  if (bytes.size() - h.data_offset != n * sizeof(T))
    RLHF_THROW(format_error, name, ": the header's shape needs ", n * sizeof(T), " bytes of data but the file holds ",
               bytes.size() - h.data_offset, "; the file is truncated or corrupt");
  if (h.fortran_order) {
    xt::xarray<T, xt::layout_type::column_major> col(h.shape);
    if (n) std::memcpy(col.data(), bytes.data() + h.data_offset, n * sizeof(T));
    return xt::xarray<T>(col);
  }
  xt::xarray<T> out(h.shape);
  if (n) std::memcpy(out.data(), bytes.data() + h.data_offset, n * sizeof(T));
  return out;
}

/// As read_npy<T>, and the array must have rank N (rlhf::format_error otherwise).
template <class T, std::size_t N>
xt::xtensor<T, N> read_npy(const std::filesystem::path& path) {
  xt::xarray<T> a = read_npy<T>(path);
  if (a.dimension() != N)
    RLHF_THROW(format_error, path.string(), ": holds an array of rank ", a.dimension(), " where rank ", N,
               " is required");
  return xt::xtensor<T, N>(a);
}

/// Writes `e` as a version-1 .npy file (native byte order, C order), atomically.
template <class E>
void write_npy(const std::filesystem::path& path, const xt::xexpression<E>& e) {
  static_assert(std::is_arithmetic_v<typename E::value_type>, "rlhf::io::write_npy writes arithmetic arrays");
  const std::string bytes = xt::dump_npy(xt::xarray<typename E::value_type>(e.derived_cast()));
  write_atomically(path, [&](std::ostream& os) { os.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

}  // namespace rlhf::io
