// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The one check every model runs on a token_batch before it touches a kernel: shapes agree,
/// lengths are in range, and every valid token is inside the model's vocabulary.
#include <cstddef>
#include <string_view>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/data/token_batch.hpp"

namespace rlhf::data {

/// Checks that a model with `vocab_size` tokens and `max_positions` positions (GPT-2's
/// n_positions) can run `batch`: at least one row and one column, at most max_positions
/// columns, one length in [0, T] per row, a response_mask that is empty or (B, T), and every
/// valid token (t < lengths(b)) in [0, vocab_size). Padding is not checked: models never read
/// it, so any pad id works. `who` starts every message (e.g. "transformer::forward").
/// @throws rlhf::invalid_argument naming `who`, the row and position, and the fix.
inline void validate_batch(const token_batch& batch, index_t vocab_size, index_t max_positions, std::string_view who) {
  const index_t B = batch.rows(), T = batch.cols();
  RLHF_EXPECTS(B >= 1 && T >= 1, who, ": the token batch is empty (", B, " x ", T,
               "); pass at least one row with one token");
  RLHF_EXPECTS(T <= max_positions, who, ": the batch has ", T, " columns but the model has max_positions = ",
               max_positions, " (n_positions); truncate the sequences to at most ", max_positions,
               " tokens (collate_options::max_length)");
  RLHF_EXPECTS(static_cast<index_t>(batch.lengths.size()) == B, who, ": batch.lengths has ", batch.lengths.size(),
               " entries for ", B, " rows; give one length per row");
  RLHF_EXPECTS(batch.response_mask.size() == 0 ||
                   (batch.response_mask.shape(0) == batch.tokens.shape(0) &&
                    batch.response_mask.shape(1) == batch.tokens.shape(1)),
               who, ": batch.response_mask has shape (", batch.response_mask.shape(0), ", ",
               batch.response_mask.shape(1), ") where (", B, ", ", T,
               ") (the shape of batch.tokens) or none is required; build batches with rlhf::data::collate");
  for (index_t b = 0; b < B; ++b) {
    const auto row = static_cast<std::size_t>(b);
    const index_t len = batch.lengths(row);
    RLHF_EXPECTS(len >= 0 && len <= T, who, ": row ", b, " has length ", len, " outside [0, ", T,
                 "]; lengths count the valid (non-padding) tokens of a row");
    for (index_t t = 0; t < len; ++t) {
      const token_id id = batch.tokens(row, static_cast<std::size_t>(t));
      RLHF_EXPECTS(id >= 0 && id < vocab_size, who, ": token id ", id, " at row ", b, ", position ", t,
                   " is outside the vocabulary [0, ", vocab_size,
                   "); the tokenizer and the model's vocab_size disagree");
    }
  }
}

}  // namespace rlhf::data
