// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Supervised fine-tuning, step 1 of the RLHF recipe (Ouyang et al. 2022, "Training language
/// models to follow instructions with human feedback", §3.5): maximise the log-likelihood of
/// demonstration responses given their prompts. Loss convention (CLI.md): the sum of the
/// response-token negative log-likelihoods divided by the number of response tokens in the batch,
///   L = -(1/N) Σ_{b,t} mask(b,t) · log π(tokens(b,t) | tokens(b,<t)),   N = Σ mask,
/// so ∂L/∂ log π(b,t) = -mask(b,t) / N. With gradient accumulation N counts the tokens of the
/// whole optimizer batch (accumulation.hpp), so n micro-batches give the big-batch gradient.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/core/rng.hpp"
#include "rlhf/data/batching.hpp"
#include "rlhf/data/collate.hpp"
#include "rlhf/data/response_view.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/train/accumulation.hpp"
#include "rlhf/train/dataset_loop.hpp"
#include "rlhf/train/optimizer_config.hpp"
#include "rlhf/train/training_loop.hpp"

namespace rlhf::train {

// ---- inputs ----

/// A model SFT can train: a language model whose forward gives the per-token log-probs it
/// differentiates (tabular_lm, transformer<Backend, lm_head>).
template <class M>
concept sft_model = language_model<M> && differentiable_model<M>;

/// SFT settings (CLI.md `rlhf sft` options); the optimizer's are shared by every trainer.
/// Validated by the trainer's constructor (and against the model by train()).
struct sft_config {
  optimizer_config optimizer{};    ///< --optimizer, --lr, schedule, clipping, accumulation
  index_t steps = 0;               ///< optimizer steps; 0 = run `epochs` epochs
  index_t epochs = 1;              ///< passes over the data when steps = 0
  index_t batch_size = 8;          ///< examples per micro-batch (× grad_accum per optimizer step)
  std::uint64_t seed = 0;          ///< shuffling
  bool shuffle = false;            ///< false = file order (CLI.md)
  index_t max_length = 0;          ///< longest sequence; 0 = the model's max_positions()
  token_id pad_id = 0;             ///< padding token (never scored)

  /// @throws rlhf::invalid_argument naming the option and its allowed range
  void validate() const {
    optimizer.validate("sft");  // steps, epochs and batch_size: dataset_loop
    RLHF_EXPECTS(max_length == 0 || max_length >= 2, "sft: --max-length must be 0 (the model's) or >= 2 (got ",
                 max_length, ")");
    RLHF_EXPECTS(pad_id >= 0, "sft: pad id must be >= 0 (got ", pad_id, ")");
  }
};

// ---- batching ----

// ---- loss ----

/// The SFT loss sum of one micro-batch for accumulate_gradients: returns -Σ mask · logp over
/// the counted positions and writes d_out = -mask there.
struct sft_loss_sum {
  template <class T>
  double operator()(const xt::xtensor<T, 2>& logp, const token_batch& batch, xt::xtensor<T, 2>& d_out) const {
    const data::response_view view(batch);
    const std::vector<double> minus_one(static_cast<std::size_t>(view.rows()), -1.0);
    view.scatter_sums_add(d_out, minus_one);  // ∂(−Σ log π)/∂ log π = −1 on every response token
    return -xt::sum(view.sums(logp))();
  }
};

/// Mean response-token negative log-likelihood of a model over some batches.
struct nll_result {
  double mean_nll = 0.0;   ///< total_nll / tokens (nats per response token)
  double total_nll = 0.0;
  index_t tokens = 0;
  double perplexity() const noexcept { return std::exp(mean_nll); }
};

/// Held-out loss with the SFT convention, through the inference path (score(): no gradients, and
/// the activations of a pending backward are left alone).
/// @throws rlhf::invalid_argument when the batches hold no response tokens
template <language_model Model>
nll_result evaluate_nll(Model& model, std::span<const token_batch> batches) {
  nll_result r;
  for (const auto& batch : batches) {
    const data::response_view view(batch);
    r.total_nll -= xt::sum(view.sums(model.score(batch)))();
    r.tokens += view.total();
  }
  RLHF_EXPECTS(r.tokens > 0, "evaluate_nll: the batches hold no response tokens (response_mask is 0 "
               "everywhere past the first position)");
  r.mean_nll = r.total_nll / static_cast<double>(r.tokens);
  return r;
}

/// The same over records, in order, batch_size at a time, truncated to max_length tokens
/// (0 = the model's max_positions()).
template <language_model Model, std::ranges::random_access_range Records>
  requires data::prompt_completion_record<std::ranges::range_value_t<Records>>
nll_result evaluate_nll(Model& model, const Records& records, index_t batch_size, index_t max_length) {
  RLHF_EXPECTS(batch_size >= 1, "evaluate_nll: batch_size must be >= 1 (got ", batch_size, ")");
  if constexpr (requires { model.max_positions(); })
    if (max_length == 0) max_length = static_cast<index_t>(model.max_positions());
  const auto n = static_cast<std::size_t>(std::ranges::size(records));
  std::vector<token_batch> batches;
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  for (std::size_t i = 0; i < n; i += static_cast<std::size_t>(batch_size)) {
    const std::size_t e = std::min(n, i + static_cast<std::size_t>(batch_size));
    batches.push_back(data::collate(records, std::span<const std::size_t>(order).subspan(i, e - i), {.max_length = max_length}));
  }
  return evaluate_nll(model, std::span<const token_batch>(batches));
}

// ---- trainer ----

/// SFT trainer on the shared training loop (training_loop.hpp, walked over the records by
/// dataset_loop.hpp): the step function collates the step's records and accumulates the gradient
/// of the SFT loss; the loops do the rest (data order, clipping, schedule, skipped steps,
/// progress, JSON, evaluation, checkpoints and resume).
/// The trainer never holds the model: train() and resume() take it.
/// @tparam Model an `sft_model` (tabular_lm, transformer<Backend, lm_head>)
template <sft_model Model>
class sft_trainer {
 public:
  using loop_type = training_loop<Model>;

  /// @throws rlhf::invalid_argument for a config or an option outside its range
  explicit sft_trainer(const sft_config& cfg, loop_options options = {})
      : config_((cfg.validate(), cfg)),
        data_("sft", {cfg.steps, cfg.epochs, cfg.batch_size, cfg.optimizer.grad_accum, cfg.seed, cfg.shuffle},
              cfg.optimizer, std::move(options)) {}

  const sft_config& config() const noexcept { return config_; }
  loop_type& loop() noexcept { return data_.loop(); }

  /// Optimizer steps train() runs on n examples.
  index_t planned_steps(index_t n_examples) const { return data_.schedule().planned_steps(n_examples); }
  /// The longest sequence train() collates for `model` (max_length, or the model's positions).
  /// @throws rlhf::invalid_argument when the model cannot take it or the pad id
  index_t max_length(const Model& model) const { return data_.max_length(model, config_.max_length, config_.pad_id); }

  /// Trains `model` on `records` (each with prompt_ids and completion_ids) from the loop's
  /// current step (0, or the resumed checkpoint's) to planned_steps(records.size());
  /// `eval(model) -> json` runs every eval_every steps and after the last.
  /// @throws rlhf::invalid_argument for an empty dataset, an empty completion, an id >= V, a
  ///         max_length or pad id the model cannot take, or data other than the checkpoint's
  template <std::ranges::random_access_range Records, class EvalFn = no_evaluation>
    requires data::prompt_completion_record<std::ranges::range_value_t<Records>>
  loop_result train(Model& model, const Records& records, EvalFn&& eval = {}) {
    const index_t max_len = max_length(model);
    check_records(model, records);
    const auto step = [&](Model& m, std::span<const std::size_t> idx, index_t) {
      std::vector<token_batch> micro;
      for (std::size_t i = 0; i < idx.size(); i += static_cast<std::size_t>(config_.batch_size))
        micro.push_back(data::collate(records, idx.subspan(i, std::min(idx.size() - i, static_cast<std::size_t>(config_.batch_size))),
                                      {.pad_id = config_.pad_id, .max_length = max_len}));
      step_output out;
      out.tokens = count_response_tokens(std::span<const token_batch>(micro));
      for (const auto& mb : micro) out.processed_tokens += static_cast<index_t>(xt::sum(mb.lengths)());
      out.loss = accumulate_gradients(m, std::span<const token_batch>(micro), data_.global_count(out.tokens),
                                      sft_loss_sum{});
      return out;
    };
    return data_.run(model, static_cast<index_t>(std::ranges::size(records)), step, std::forward<EvalFn>(eval));
  }

  /// Restores a checkpoint of this trainer (training_loop::resume); the next train() on the same
  /// data continues bit-identically.
  nlohmann::json resume(Model& model, const std::filesystem::path& checkpoint) { return data_.resume(model, checkpoint); }

 private:
  template <class Records>
  static void check_records(const Model& model, const Records& records) {
    const auto v = static_cast<index_t>(model.vocab_size());
    index_t i = 0;
    for (const auto& r : records) {
      RLHF_EXPECTS(std::ranges::size(r.completion_ids) > 0, "sft: record ", i + 1,
                   " has an empty completion; every record needs at least one completion token");
      RLHF_EXPECTS(std::ranges::size(r.prompt_ids) > 0, "sft: record ", i + 1,
                   " has an empty prompt; every record needs at least one prompt token");
      for (auto id : r.prompt_ids)
        RLHF_EXPECTS(id >= 0 && id < v, "sft: record ", i + 1, ": prompt token id ", id,
                     " is outside the vocabulary [0, ", v, ")");
      for (auto id : r.completion_ids)
        RLHF_EXPECTS(id >= 0 && id < v, "sft: record ", i + 1, ": completion token id ", id,
                     " is outside the vocabulary [0, ", v, ")");
      ++i;
    }
  }

  sft_config config_;
  dataset_loop<Model> data_;
};

}  // namespace rlhf::train
