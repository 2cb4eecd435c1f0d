// SPDX-License-Identifier: MIT
#pragma once
// IWYU pragma: private
/// @file
/// UTF-8 decoding and the Unicode character classes the GPT-2 pre-tokenizer needs
/// (\p{L}, \p{N}, \s), as range tables generated from the whole Unicode Character Database
/// (unicode_tables.hpp, tools/unicode/generate.py): every script's letters and numbers.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rlhf/io/detail/unicode_tables.hpp"

namespace rlhf::io::detail {

/// Marker for a byte that does not start a valid UTF-8 sequence (decoded as one unit).
inline constexpr char32_t invalid_code_point = 0xFFFFFFFFu;

/// Decodes the UTF-8 sequence at s[i]; returns its length in bytes (>= 1) and sets cp.
/// Overlong forms, surrogates, values above U+10FFFF, truncated sequences and stray
/// continuation bytes give cp = invalid_code_point with length 1, so every byte string
/// splits into units that concatenate back to itself.
inline std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t& cp) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  cp = invalid_code_point;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len = 0;
  char32_t v = 0, min = 0;
  if ((b0 & 0xE0) == 0xC0) len = 2, v = b0 & 0x1F, min = 0x80;
  else if ((b0 & 0xF0) == 0xE0) len = 3, v = b0 & 0x0F, min = 0x800;
  else if ((b0 & 0xF8) == 0xF0) len = 4, v = b0 & 0x07, min = 0x10000;
  else return 1;
  if (i + len > s.size()) return 1;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 1;
    v = (v << 6) | (b & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 1;
  cp = v;
  return len;
}

enum class char_class : std::uint8_t { letter, number, space, other };

template <std::size_t N>
constexpr bool in_ranges(const std::array<cp_range, N>& table, char32_t cp) noexcept {
  const auto it = std::upper_bound(table.begin(), table.end(), cp,
                                   [](char32_t c, const cp_range& r) { return c < r.lo; });
  return it != table.begin() && cp <= std::prev(it)->hi;
}

constexpr char_class classify(char32_t cp) noexcept {
  if (cp == invalid_code_point) return char_class::other;
  if (cp < 0x80) {  // fast path: ASCII is most text
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return char_class::letter;
    if (cp >= '0' && cp <= '9') return char_class::number;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return char_class::space;
    return char_class::other;
  }
  if (in_ranges(letter_ranges, cp)) return char_class::letter;
  if (in_ranges(number_ranges, cp)) return char_class::number;
  if (in_ranges(space_ranges, cp)) return char_class::space;
  return char_class::other;
}

}  // namespace rlhf::io::detail

namespace rlhf::io::detail {
constexpr bool ranges_sorted(const auto& table) noexcept {
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (table[i].lo > table[i].hi) return false;
    if (i > 0 && table[i - 1].hi >= table[i].lo) return false;
  }
  return true;
}
static_assert(ranges_sorted(letter_ranges) && ranges_sorted(number_ranges) && ranges_sorted(space_ranges),
              "the binary search in classify() needs sorted, disjoint ranges");
}  // namespace rlhf::io::detail
