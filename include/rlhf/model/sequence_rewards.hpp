// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The sequence reward r(s, a) of a value model: its value at the last non-padding token of each
/// row (Stiennon et al. 2020; Hugging Face's GPT2ForSequenceClassification reads the same
/// position), through the inference path. What PPO adds at the last token, best-of-N ranks by
/// and the reward-model metrics report. A language model is refused at compile time.
#include <xtensor/xtensor.hpp>

#include "rlhf/data/token_batch.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/heads.hpp"

namespace rlhf {

/// r(s, a) of every row of `batch` (B), as double.
/// @throws rlhf::invalid_argument for an empty row or a malformed batch
template <value_model Model>
xt::xtensor<double, 1> sequence_rewards(Model& rm, const token_batch& batch) {
  const auto values = rm.score(batch);
  using value_t = typename std::remove_cvref_t<decltype(values)>::value_type;
  const xt::xtensor<value_t, 2> dense = values;
  return xt::xtensor<double, 1>(xt::cast<double>(last_token_values(batch, dense)));
}

}  // namespace rlhf
