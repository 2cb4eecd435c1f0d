// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Gradient accumulation over micro-batches that equals one pass over the whole batch.
///
/// For a loss normalised over the whole batch, L = (1/N) Σ_i ℓ_i (N = response tokens for SFT,
/// pairs for DPO and reward models), split into micro-batches M_1..M_n, the gradient is
/// Σ_j ∇ (1/N) Σ_{i∈M_j} ℓ_i: every micro-batch's sum is divided by the normaliser N of the
/// WHOLE batch. Averaging per-micro-batch means instead (then dividing by n) weights the tokens
/// of short micro-batches more, and is not the big-batch gradient unless all micro-batches hold
/// the same number of tokens. `accumulate_gradients` does the former.
#include <cmath>
#include <span>
#include <utility>

#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/data/response_view.hpp"
#include "rlhf/data/token_batch.hpp"

namespace rlhf::train {

/// Positions a response-token loss counts: response_mask(b, t) != 0 and 1 <= t < lengths(b)
/// (t = 0 has no prediction; padding never counts).
inline index_t count_response_tokens(const token_batch& batch) { return data::response_view(batch).total(); }
/// The same summed over micro-batches.
inline index_t count_response_tokens(std::span<const token_batch> batches) {
  index_t n = 0;
  for (const auto& b : batches) n += count_response_tokens(b);
  return n;
}

/// Runs forward and backward on every micro-batch, accumulating (+=) parameter gradients of
/// L = (1/normaliser) Σ_micro loss_sum, and returns L. Gradients are NOT zeroed first.
///
/// `loss_sum(out, batch, d_out) -> double` receives the model's output for one micro-batch, returns
/// the un-normalised sum of the loss over it and writes ∂(sum)/∂out into d_out (zeros, out's
/// shape); this function divides by the normaliser before the backward pass.
/// @pre normaliser > 0
template <class Model, class LossSum>
double accumulate_gradients(Model& model, std::span<const token_batch> micro_batches, double normaliser,
                            LossSum&& loss_sum) {
  RLHF_EXPECTS(normaliser > 0 && std::isfinite(normaliser),
               "accumulate_gradients: the normaliser (tokens or pairs in the whole batch) must be > 0 (got ",
               normaliser, "); a batch without response tokens cannot be trained on");
  double total = 0.0;
  for (const auto& mb : micro_batches) {
    auto out = model.forward(mb);
    using out_t = decltype(out);
    out_t d_out = out_t::from_shape(out.shape());
    d_out.fill(0);
    total += loss_sum(std::as_const(out), mb, d_out);
    d_out /= static_cast<typename out_t::value_type>(normaliser);
    model.backward(d_out);
  }
  return total / normaliser;
}

}  // namespace rlhf::train
