// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The byte-level tokenizer: one token per byte, plus an end-of-text token.
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/io/tokenizer.hpp"

namespace rlhf::io {

/// Byte-level tokenizer (the vocabulary of ByT5, Xue et al. 2022, without its offset): ids
/// 0..255 are the bytes, 256 is `<|endoftext|>` (EOS); vocab_size() = 257. Lossless for any
/// byte string. Used when a model directory has no vocab.json/merges.txt.
class byte_tokenizer {
 public:
  using rlhf_concept = tokenizer_tag;
  static constexpr token_id eos = 256;

  std::vector<token_id> encode(std::string_view text) const {
    std::vector<token_id> ids;
    ids.reserve(text.size());
    for (char c : text) ids.push_back(static_cast<token_id>(static_cast<unsigned char>(c)));
    return ids;
  }
  /// Bytes of the ids; EOS decodes to the text "<|endoftext|>". rlhf::invalid_argument for an
  /// id outside [0, 257).
  std::string decode(std::span<const token_id> ids) const {
    std::string out;
    out.reserve(ids.size());
    for (token_id id : ids) {
      check(id);
      if (id == eos) out += "<|endoftext|>";
      else out.push_back(static_cast<char>(static_cast<unsigned char>(id)));
    }
    return out;
  }
  index_t vocab_size() const noexcept { return 257; }
  token_id eos_id() const noexcept { return eos; }
  /// Printable form for debugging: the ASCII character, `<0xNN>` for other bytes, or
  /// `<|endoftext|>`.
  std::string token_text(token_id id) const {
    check(id);
    if (id == eos) return "<|endoftext|>";
    if (id >= 0x21 && id < 0x7f) return std::string(1, static_cast<char>(id));
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned>(id));
    return buf;
  }

 private:
  static void check(token_id id) {
    RLHF_EXPECTS(id >= 0 && id <= eos, "byte_tokenizer: token id ", id,
                 " is outside the vocabulary [0, 257); the ids come from another tokenizer or are corrupt");
  }
};
static_assert(tokenizer<byte_tokenizer>);

}  // namespace rlhf::io
