// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The tokenizer of a model directory that declares none (`rlhf init --tokenizer none`): for
/// users who bring token ids from a tokenizer of their own, with any vocab_size. Token-id fields
/// (prompt_ids, completion_ids, ...) are used as they are; text cannot be encoded, and asking
/// for it is an rlhf::invalid_argument naming the directory and the fix. Ids decode to a
/// readable "<id>" form so generated ids can still be shown.
#include <string>
#include <string_view>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/io/tokenizer.hpp"

namespace rlhf::io {

/// See the file comment.
class no_tokenizer {
 public:
  using rlhf_concept = tokenizer_tag;

  /// @param vocab the model's vocab_size; @param where the directory (for messages)
  no_tokenizer(index_t vocab, std::string where) : vocab_(vocab), where_(std::move(where)) {
    RLHF_EXPECTS(vocab >= 1, where_, ": a model needs vocab_size >= 1 (got ", vocab, ")");
  }

  /// @throws rlhf::invalid_argument always: there is no tokenizer to encode text with
  std::vector<token_id> encode(std::string_view) const {
    RLHF_THROW(invalid_argument, where_,
               " declares no tokenizer (rlhf init --tokenizer none), so text fields cannot be encoded; give token "
               "ids instead (prompt_ids, completion_ids, chosen_ids, rejected_ids, responses_ids) or use a model "
               "directory with a tokenizer (rlhf init --tokenizer byte|DIR)");
  }
  /// "<id><id>..." for ids in [0, vocab_size). @throws rlhf::invalid_argument for another id
  std::string decode(std::span<const token_id> ids) const {
    std::string out;
    for (token_id id : ids) out += token_text(id);
    return out;
  }
  index_t vocab_size() const noexcept { return vocab_; }
  /// No end-of-sequence token: nothing is appended to token-id fields.
  token_id eos_id() const noexcept { return -1; }
  std::string token_text(token_id id) const {
    RLHF_EXPECTS(id >= 0 && id < vocab_, where_, ": token id ", id, " is outside the vocabulary [0, ", vocab_, ")");
    return "<" + std::to_string(id) + ">";
  }

 private:
  index_t vocab_;
  std::string where_;
};

static_assert(tokenizer<no_tokenizer>);

}  // namespace rlhf::io
