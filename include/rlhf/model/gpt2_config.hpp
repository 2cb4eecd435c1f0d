// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// GPT-2 hyperparameters with the keys of Hugging Face's config.json (CLI.md).
#include <cstdint>

#include "rlhf/core/error.hpp"
#include "rlhf/core/view.hpp"

namespace rlhf {

/// GPT-2 family shape. Defaults are the tiny teaching model (834k parameters).
struct gpt2_config {
  index_t vocab_size = 256;
  index_t n_positions = 64;
  index_t n_embd = 128;
  index_t n_layer = 4;
  index_t n_head = 4;
  float layer_norm_epsilon = 1e-5f;

  /// Throws rlhf::invalid_argument naming the first key outside its range.
  void validate() const {
    RLHF_EXPECTS(vocab_size > 0, "config: vocab_size must be > 0 (got ", vocab_size, ")");
    RLHF_EXPECTS(n_positions > 0, "config: n_positions must be > 0 (got ", n_positions, ")");
    RLHF_EXPECTS(n_embd > 0, "config: n_embd must be > 0 (got ", n_embd, ")");
    RLHF_EXPECTS(n_layer > 0, "config: n_layer must be > 0 (got ", n_layer, ")");
    RLHF_EXPECTS(n_head > 0 && n_embd % n_head == 0,
                 "config: n_head must divide n_embd (n_embd ", n_embd, ", n_head ", n_head, ")");
    RLHF_EXPECTS(layer_norm_epsilon > 0, "config: layer_norm_epsilon must be > 0");
  }
};

}  // namespace rlhf
