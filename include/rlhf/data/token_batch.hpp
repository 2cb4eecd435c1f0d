// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A batch of token sequences at the library boundary: right-padded (B, T) token ids, the
/// length of each row, and which positions are response tokens (the only ones any loss counts).
#include <cstdint>

#include <xtensor/xtensor.hpp>

#include "rlhf/core/view.hpp"

namespace rlhf {

/// Right-padded token sequences (B rows, T = longest row). Position t of row b is valid when
/// t < lengths(b); response_mask(b, t) = 1 marks tokens that belong to the response (their
/// log-probability counts in every loss); prompt tokens and padding have mask 0.
/// Padding positions hold `pad_id` (any valid id; they never influence valid positions because
/// attention is causal and padding sits at the end).
struct token_batch {
  xt::xtensor<token_id, 2> tokens;            // (B, T)
  xt::xtensor<std::int32_t, 1> lengths;       // (B)
  xt::xtensor<std::uint8_t, 2> response_mask; // (B, T)

  index_t rows() const noexcept { return static_cast<index_t>(tokens.shape(0)); }
  index_t cols() const noexcept { return static_cast<index_t>(tokens.shape(1)); }
};

}  // namespace rlhf
