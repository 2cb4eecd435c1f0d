// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// NumPy `.npy` arrays at the library boundary (format spec: numpy.lib.format, versions 1-3),
/// using xtensor's header parser and writer, with the checks xt::load_npy lacks: a truncated
/// file, a header whose shape promises more data than the file holds, or a dtype other than
/// the requested one is an rlhf::format_error naming the file, never a read past the end or
/// a silent reinterpretation.
#include <complex>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
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
  try {
    xt::detail::parse_header(bytes.substr(offset, header_len), h.descr, &h.fortran_order, h.shape);
  } catch (const std::exception& e) {
    RLHF_THROW(format_error, name, ": malformed .npy header (", e.what(), ")");
  }
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
