// SPDX-License-Identifier: MIT
#pragma once
// IWYU pragma: private
/// @file
/// The GPT-2 parameter table: (Hugging Face name, shape, offset, initialisation) for every
/// tensor of the trunk plus the head's own tensors. Sizes, views into the two arenas
/// (values, gradients), initialisation, checkpoint names and test messages all derive from
/// this one table (house style §8.7), so there is no second list to keep in the same order.
#include <cmath>
#include <string>
#include <vector>

#include "rlhf/core/view.hpp"
#include "rlhf/model/gpt2_config.hpp"

namespace rlhf {

/// How a tensor is initialised (GPT-2, Radford et al. 2019, as in Hugging Face's
/// GPT2PreTrainedModel._init_weights).
enum class init_kind { normal, ones, zeros };

/// A tensor a head adds to the model, e.g. `score.weight` [1, C] (GPT2ForSequenceClassification).
struct head_tensor {
  std::string name;
  shape extents;
  init_kind init = init_kind::normal;
  double stddev = 0.02;
};

namespace detail {

/// One row of the parameter table.
struct tensor_entry {
  std::string name;
  shape extents;
  index_t offset = 0;  // elements from the start of the arena
  init_kind init = init_kind::normal;
  double stddev = 0.02;
};

/// Offsets (into the table) of the tensors of one block, in table order.
struct block_slots {
  std::size_t ln1_w, ln1_b, attn_w, attn_b, attn_proj_w, attn_proj_b, ln2_w, ln2_b, fc_w, fc_b,
      fc_proj_w, fc_proj_b;
};

/// The table of a GPT-2 trunk followed by `head`'s tensors. Weights of Conv1D layers are
/// stored [in, out] as in Hugging Face's checkpoints, so `matmul(x, W)` needs no transpose.
struct parameter_table {
  std::vector<tensor_entry> entries;
  std::vector<block_slots> blocks;
  std::size_t wte = 0, wpe = 1, lnf_w = 0, lnf_b = 0, head_first = 0;
  index_t total = 0;

  parameter_table() = default;
  parameter_table(const gpt2_config& c, const std::vector<head_tensor>& head) {
    const index_t C = c.n_embd;
    // GPT-2 scales the residual projections by 1/sqrt(2 L): each block adds two residual
    // contributions, and this keeps the residual stream's variance independent of depth.
    const double proj_std = 0.02 / std::sqrt(2.0 * static_cast<double>(c.n_layer));
    auto add = [&](std::string name, shape s, init_kind k, double sd = 0.02) {
      entries.push_back({std::move(name), s, total, k, sd});
      total += s.size();
      return entries.size() - 1;
    };
    wte = add("wte.weight", {c.vocab_size, C}, init_kind::normal);
    wpe = add("wpe.weight", {c.n_positions, C}, init_kind::normal);
    for (index_t l = 0; l < c.n_layer; ++l) {
      const std::string p = "h." + std::to_string(l) + ".";
      block_slots s{};
      s.ln1_w = add(p + "ln_1.weight", {C}, init_kind::ones);
      s.ln1_b = add(p + "ln_1.bias", {C}, init_kind::zeros);
      s.attn_w = add(p + "attn.c_attn.weight", {C, 3 * C}, init_kind::normal);
      s.attn_b = add(p + "attn.c_attn.bias", {3 * C}, init_kind::zeros);
      s.attn_proj_w = add(p + "attn.c_proj.weight", {C, C}, init_kind::normal, proj_std);
      s.attn_proj_b = add(p + "attn.c_proj.bias", {C}, init_kind::zeros);
      s.ln2_w = add(p + "ln_2.weight", {C}, init_kind::ones);
      s.ln2_b = add(p + "ln_2.bias", {C}, init_kind::zeros);
      s.fc_w = add(p + "mlp.c_fc.weight", {C, 4 * C}, init_kind::normal);
      s.fc_b = add(p + "mlp.c_fc.bias", {4 * C}, init_kind::zeros);
      s.fc_proj_w = add(p + "mlp.c_proj.weight", {4 * C, C}, init_kind::normal, proj_std);
      s.fc_proj_b = add(p + "mlp.c_proj.bias", {C}, init_kind::zeros);
      blocks.push_back(s);
    }
    lnf_w = add("ln_f.weight", {C}, init_kind::ones);
    lnf_b = add("ln_f.bias", {C}, init_kind::zeros);
    head_first = entries.size();
    for (const auto& h : head) add(h.name, h.extents, h.init, h.stddev);
  }

  /// Elements of the head's own tensors (they sit at the end of the arena).
  index_t head_size() const noexcept {
    return head_first == entries.size() ? 0 : total - entries[head_first].offset;
  }
  index_t head_offset() const noexcept {
    return head_first == entries.size() ? total : entries[head_first].offset;
  }
};

}  // namespace detail
}  // namespace rlhf
