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
    optimizer.validate("sft");
    RLHF_EXPECTS(steps >= 0, "sft: --steps must be >= 0 (got ", steps, "; 0 means use --epochs)");
    RLHF_EXPECTS(steps > 0 || epochs >= 1, "sft: --epochs must be >= 1 when --steps is 0 (got ", epochs, ")");
    RLHF_EXPECTS(batch_size >= 1, "sft: --batch-size must be >= 1 (got ", batch_size, ")");
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

/// SFT trainer on the shared training loop (training_loop.hpp): the step function collates the
/// step's records and accumulates the gradient of the SFT loss; the loop does the rest (clipping,
/// schedule, skipped steps, progress, JSON, evaluation, checkpoints). The data order of step s is
/// a function of (seed, s), so a resumed run sees exactly the batches an uninterrupted one would.
/// The trainer never holds the model: train() and resume() take it.
/// @tparam Model an `sft_model` (tabular_lm, transformer<Backend, lm_head>)
template <sft_model Model>
class sft_trainer {
 public:
  using loop_type = training_loop<Model>;

  /// @throws rlhf::invalid_argument for a config or an option outside its range
  explicit sft_trainer(const sft_config& cfg, loop_options options = {})
      : config_((cfg.validate(), cfg)), loop_(cfg.optimizer, named(std::move(options), cfg)) {}

  const sft_config& config() const noexcept { return config_; }
  loop_type& loop() noexcept { return loop_; }

  /// Optimizer steps train() runs on n examples.
  index_t planned_steps(index_t n_examples) const {
    if (config_.steps > 0) return config_.steps;
    return config_.epochs * steps_per_epoch(n_examples);
  }
  /// The longest sequence train() collates for `model` (max_length, or the model's positions).
  index_t max_length(const Model& model) const {
    return config_.max_length == 0 ? static_cast<index_t>(model.max_positions()) : config_.max_length;
  }

  /// Trains `model` on `records` (each with prompt_ids and completion_ids) from the loop's
  /// current step (0, or the resumed checkpoint's) to planned_steps(records.size());
  /// `eval(model) -> json` runs every eval_every steps and after the last.
  /// @throws rlhf::invalid_argument for an empty dataset, an empty completion, an id >= V, a
  ///         max_length or pad id the model cannot take, or data other than the checkpoint's
  template <std::ranges::random_access_range Records, class EvalFn = no_evaluation>
    requires data::prompt_completion_record<std::ranges::range_value_t<Records>>
  loop_result train(Model& model, const Records& records, EvalFn&& eval = {}) {
    const auto n = static_cast<index_t>(std::ranges::size(records));
    RLHF_EXPECTS(n > 0, "sft: the dataset is empty");
    const index_t max_len = max_length(model);
    RLHF_EXPECTS(max_len <= static_cast<index_t>(model.max_positions()), "sft: --max-length ", max_len,
                 " exceeds the model's n_positions ", model.max_positions());
    RLHF_EXPECTS(config_.pad_id < static_cast<index_t>(model.vocab_size()), "sft: pad id ", config_.pad_id,
                 " is outside the vocabulary [0, ", model.vocab_size(), ")");
    check_records(model, records);
    if (!resumed_.is_null())
      RLHF_EXPECTS(resumed_.value("records", n) == n, "sft: the checkpoint was trained on ",
                   resumed_.value("records", n), " records but --data has ", n, "; resume on the same data");
    const index_t per_step = config_.batch_size * config_.optimizer.grad_accum, per_epoch = steps_per_epoch(n);
    std::vector<std::size_t> order;
    index_t order_epoch = -1;
    loop_.set_trainer_state([n, per_epoch](index_t step) {
      return nlohmann::json{{"records", n}, {"epoch", step / per_epoch}, {"step_in_epoch", step % per_epoch}};
    });
    const auto step = [&](Model& m, index_t s) {
      const index_t epoch = s / per_epoch;
      if (epoch != order_epoch) {
        order = order_for(static_cast<std::size_t>(n), epoch);
        order_epoch = epoch;
      }
      const index_t first = (s % per_epoch) * per_step, last = std::min(n, first + per_step);
      std::vector<token_batch> micro;
      for (index_t i = first; i < last; i += config_.batch_size) {
        const index_t e = std::min(last, i + config_.batch_size);
        micro.push_back(data::collate(
            records, std::span<const std::size_t>(order).subspan(static_cast<std::size_t>(i), static_cast<std::size_t>(e - i)),
            {.pad_id = config_.pad_id, .max_length = max_len}));
      }
      step_output out;
      out.tokens = count_response_tokens(std::span<const token_batch>(micro));
      for (const auto& mb : micro) out.processed_tokens += static_cast<index_t>(xt::sum(mb.lengths)());
      out.loss = accumulate_gradients(m, std::span<const token_batch>(micro), static_cast<double>(out.tokens),
                                      sft_loss_sum{});
      out.metrics["epoch"] = epoch;
      return out;
    };
    return loop_.run(model, planned_steps(n), step, std::forward<EvalFn>(eval));
  }

  /// Restores a checkpoint of this trainer (training_loop::resume); the next train() on the same
  /// data continues bit-identically.
  nlohmann::json resume(Model& model, const std::filesystem::path& checkpoint) {
    resumed_ = loop_.resume(model, checkpoint);
    return resumed_;
  }

 private:
  static loop_options named(loop_options o, const sft_config& cfg) {
    if (o.name == "train") o.name = "sft";
    o.seed = cfg.seed;
    return o;
  }

  index_t steps_per_epoch(index_t n) const {
    const index_t per_step = config_.batch_size * config_.optimizer.grad_accum;
    return std::max<index_t>(1, (n + per_step - 1) / per_step);
  }

  std::vector<std::size_t> order_for(std::size_t n, index_t epoch) const {
    std::vector<std::size_t> order(n);
    if (config_.shuffle) {
      const auto p = data::shuffled_indices(static_cast<index_t>(n), config_.seed, static_cast<std::uint64_t>(epoch));
      std::copy(p.begin(), p.end(), order.begin());
      return order;
    }
    std::iota(order.begin(), order.end(), std::size_t{0});
    return order;
  }

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
  loop_type loop_;
  nlohmann::json resumed_ = nullptr;
};

}  // namespace rlhf::train
