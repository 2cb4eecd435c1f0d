// SPDX-License-Identifier: MIT
#pragma once
// IWYU pragma: private
/// @file
/// UTF-8 decoding and the Unicode character classes the GPT-2 pre-tokenizer needs
/// (\p{L}, \p{N}, \s), as range tables. Complete for ASCII, Latin-1, Latin Extended, IPA,
/// Greek, Cyrillic, Armenian, Hebrew, Arabic, Devanagari, Thai, Georgian, Hangul, kana and CJK
/// ideographs; characters of other scripts fall in the "other" class (punctuation-like),
/// which changes where words split but never loses bytes.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

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

struct cp_range {
  char32_t lo, hi;
};

// Unicode General Category L* (letters), for the scripts named in the file comment.
inline constexpr std::array letter_ranges{
    cp_range{0x41, 0x5A},       cp_range{0x61, 0x7A},       cp_range{0xAA, 0xAA},       cp_range{0xB5, 0xB5},
    cp_range{0xBA, 0xBA},       cp_range{0xC0, 0xD6},       cp_range{0xD8, 0xF6},       cp_range{0xF8, 0x2C1},
    cp_range{0x2C6, 0x2D1},     cp_range{0x2E0, 0x2E4},     cp_range{0x2EC, 0x2EC},     cp_range{0x2EE, 0x2EE},
    cp_range{0x370, 0x374},     cp_range{0x376, 0x377},     cp_range{0x37A, 0x37D},     cp_range{0x37F, 0x37F},
    cp_range{0x386, 0x386},     cp_range{0x388, 0x38A},     cp_range{0x38C, 0x38C},     cp_range{0x38E, 0x3A1},
    cp_range{0x3A3, 0x3F5},     cp_range{0x3F7, 0x481},     cp_range{0x48A, 0x52F},     cp_range{0x531, 0x556},
    cp_range{0x559, 0x559},     cp_range{0x560, 0x588},     cp_range{0x5D0, 0x5EA},     cp_range{0x5EF, 0x5F2},
    cp_range{0x620, 0x64A},     cp_range{0x66E, 0x66F},     cp_range{0x671, 0x6D3},     cp_range{0x6D5, 0x6D5},
    cp_range{0x6E5, 0x6E6},     cp_range{0x6EE, 0x6EF},     cp_range{0x6FA, 0x6FC},     cp_range{0x6FF, 0x6FF},
    cp_range{0x904, 0x939},     cp_range{0x93D, 0x93D},     cp_range{0x950, 0x950},     cp_range{0x958, 0x961},
    cp_range{0x971, 0x980},     cp_range{0xE01, 0xE30},     cp_range{0xE32, 0xE33},     cp_range{0xE40, 0xE46},
    cp_range{0x10A0, 0x10C5},   cp_range{0x10D0, 0x10FA},   cp_range{0x10FC, 0x10FF},   cp_range{0x1100, 0x11FF},
    cp_range{0x1E00, 0x1F15},   cp_range{0x1F18, 0x1F1D},   cp_range{0x1F20, 0x1F45},   cp_range{0x1F48, 0x1F4D},
    cp_range{0x1F50, 0x1F57},   cp_range{0x1F59, 0x1F59},   cp_range{0x1F5B, 0x1F5B},   cp_range{0x1F5D, 0x1F5D},
    cp_range{0x1F5F, 0x1F7D},   cp_range{0x1F80, 0x1FB4},   cp_range{0x1FB6, 0x1FBC},   cp_range{0x1FBE, 0x1FBE},
    cp_range{0x1FC2, 0x1FC4},   cp_range{0x1FC6, 0x1FCC},   cp_range{0x1FD0, 0x1FD3},   cp_range{0x1FD6, 0x1FDB},
    cp_range{0x1FE0, 0x1FEC},   cp_range{0x1FF2, 0x1FF4},   cp_range{0x1FF6, 0x1FFC},   cp_range{0x2071, 0x2071},
    cp_range{0x207F, 0x207F},   cp_range{0x2090, 0x209C},   cp_range{0x2102, 0x2102},   cp_range{0x2107, 0x2107},
    cp_range{0x210A, 0x2113},   cp_range{0x2115, 0x2115},   cp_range{0x2119, 0x211D},   cp_range{0x2124, 0x2124},
    cp_range{0x2126, 0x2126},   cp_range{0x2128, 0x2128},   cp_range{0x212A, 0x212D},   cp_range{0x212F, 0x2139},
    cp_range{0x213C, 0x213F},   cp_range{0x2145, 0x2149},   cp_range{0x214E, 0x214E},   cp_range{0x2183, 0x2184},
    cp_range{0x2C00, 0x2CE4},   cp_range{0x2CEB, 0x2CEE},   cp_range{0x2D00, 0x2D25},   cp_range{0x3005, 0x3006},
    cp_range{0x3031, 0x3035},   cp_range{0x303B, 0x303C},   cp_range{0x3041, 0x3096},   cp_range{0x309D, 0x309F},
    cp_range{0x30A1, 0x30FA},   cp_range{0x30FC, 0x30FF},   cp_range{0x3105, 0x312F},   cp_range{0x3131, 0x318E},
    cp_range{0x31A0, 0x31BF},   cp_range{0x31F0, 0x31FF},   cp_range{0x3400, 0x4DBF},   cp_range{0x4E00, 0xA48C},
    cp_range{0xA640, 0xA66E},   cp_range{0xA680, 0xA69D},   cp_range{0xA717, 0xA71F},   cp_range{0xA722, 0xA788},
    cp_range{0xA78B, 0xA7CA},   cp_range{0xAC00, 0xD7A3},   cp_range{0xD7B0, 0xD7C6},   cp_range{0xD7CB, 0xD7FB},
    cp_range{0xF900, 0xFA6D},   cp_range{0xFA70, 0xFAD9},   cp_range{0xFB00, 0xFB06},   cp_range{0xFB50, 0xFBB1},
    cp_range{0xFE70, 0xFE74},   cp_range{0xFE76, 0xFEFC},   cp_range{0xFF21, 0xFF3A},   cp_range{0xFF41, 0xFF5A},
    cp_range{0xFF66, 0xFFBE},   cp_range{0x20000, 0x2A6DF}, cp_range{0x2A700, 0x2EBE0}, cp_range{0x2F800, 0x2FA1D},
    cp_range{0x30000, 0x3134A},
};

// Unicode General Category N* (Nd, Nl, No) for the same scripts.
inline constexpr std::array number_ranges{
    cp_range{0x30, 0x39},     cp_range{0xB2, 0xB3},     cp_range{0xB9, 0xB9},     cp_range{0xBC, 0xBE},
    cp_range{0x660, 0x669},   cp_range{0x6F0, 0x6F9},   cp_range{0x966, 0x96F},   cp_range{0x9E6, 0x9EF},
    cp_range{0xE50, 0xE59},   cp_range{0x16EE, 0x16F0}, cp_range{0x2070, 0x2070}, cp_range{0x2074, 0x2079},
    cp_range{0x2080, 0x2089}, cp_range{0x2150, 0x2182}, cp_range{0x2185, 0x2189}, cp_range{0x2460, 0x249B},
    cp_range{0x24EA, 0x24FF}, cp_range{0x2776, 0x2793}, cp_range{0x2CFD, 0x2CFD}, cp_range{0x3007, 0x3007},
    cp_range{0x3021, 0x3029}, cp_range{0x3038, 0x303A}, cp_range{0x3192, 0x3195}, cp_range{0x3220, 0x3229},
    cp_range{0x3248, 0x324F}, cp_range{0x3251, 0x325F}, cp_range{0x3280, 0x3289}, cp_range{0x32B1, 0x32BF},
    cp_range{0xFF10, 0xFF19},
};

// Unicode White_Space, the set `\s` matches in the `regex` module GPT-2's encoder.py uses.
inline constexpr std::array space_ranges{
    cp_range{0x09, 0x0D},     cp_range{0x20, 0x20},     cp_range{0x85, 0x85},     cp_range{0xA0, 0xA0},
    cp_range{0x1680, 0x1680}, cp_range{0x2000, 0x200A}, cp_range{0x2028, 0x2029}, cp_range{0x202F, 0x202F},
    cp_range{0x205F, 0x205F}, cp_range{0x3000, 0x3000},
};

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
