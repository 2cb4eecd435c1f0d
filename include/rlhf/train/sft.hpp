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
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <functional>
#include <numeric>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/core/rng.hpp"
#include "rlhf/data/collate.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/train/accumulation.hpp"
#include "rlhf/train/adamw.hpp"
#include "rlhf/train/grad_clip.hpp"
#include "rlhf/train/optimizer.hpp"
#include "rlhf/train/schedule.hpp"
#include "rlhf/train/sgd.hpp"

namespace rlhf::train {

// ---- inputs ----

/// A demonstration: prompt and completion token ids, contiguous token_id ranges
/// (rlhf::data::sft_example is one).
template <class R>
concept sft_record = requires(const R& r) {
  { r.prompt_ids } -> std::ranges::contiguous_range;
  { r.completion_ids } -> std::ranges::contiguous_range;
  requires std::same_as<std::ranges::range_value_t<decltype(r.prompt_ids)>, token_id>;
  requires std::same_as<std::ranges::range_value_t<decltype(r.completion_ids)>, token_id>;
};

/// A model SFT can train: a causal LM (an lm head) that is trainable, scores sequences and has
/// forward (per-token log-probs (B, T), keeping activations) and backward (d log-probs).
template <class M>
concept sft_model = causal_lm<M> && trainable<M> && sequence_scorer<M> && has_named_parameters<M> &&
                    requires(M& m, const token_batch& b) {
                      m.backward(m.forward(b));
                    };

enum class optimizer_kind { adamw, sgd };

/// SFT hyperparameters (CLI.md `rlhf sft` options). Validated by the trainer's constructor.
struct sft_config {
  double lr = 1e-4;                ///< peak learning rate
  index_t steps = 0;               ///< optimizer steps; 0 = run `epochs` epochs
  index_t epochs = 1;              ///< passes over the data when steps = 0
  index_t batch_size = 8;          ///< examples per micro-batch
  index_t grad_accum = 1;          ///< micro-batches per optimizer step (batch_size × grad_accum examples)
  optimizer_kind optimizer = optimizer_kind::adamw;
  double weight_decay = 0.0;       ///< AdamW: decoupled; SGD: L2 (bias and LayerNorm never decayed)
  double max_grad_norm = 1.0;      ///< global-norm clipping; 0 = off
  index_t warmup = 0;              ///< linear warmup steps
  schedule_kind schedule = schedule_kind::cosine;
  double min_lr = 0.0;             ///< floor of the cosine decay
  double momentum = 0.0;           ///< SGD momentum
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  ///< AdamW
  std::uint64_t seed = 0;          ///< shuffling
  bool shuffle = false;            ///< false = file order (CLI.md)
  index_t max_length = 0;          ///< longest sequence; 0 = the model's max_positions()
  token_id pad_id = 0;             ///< padding token (never scored)

  /// @throws rlhf::invalid_argument naming the option and its allowed range
  void validate() const {
    RLHF_EXPECTS(lr > 0 && std::isfinite(lr), "sft: --lr must be > 0 (got ", lr, ")");
    RLHF_EXPECTS(steps >= 0, "sft: --steps must be >= 0 (got ", steps, "; 0 means use --epochs)");
    RLHF_EXPECTS(steps > 0 || epochs >= 1, "sft: --epochs must be >= 1 when --steps is 0 (got ", epochs, ")");
    RLHF_EXPECTS(batch_size >= 1, "sft: --batch-size must be >= 1 (got ", batch_size, ")");
    RLHF_EXPECTS(grad_accum >= 1, "sft: --grad-accum must be >= 1 (got ", grad_accum, ")");
    RLHF_EXPECTS(weight_decay >= 0 && std::isfinite(weight_decay), "sft: --weight-decay must be >= 0 (got ",
                 weight_decay, ")");
    RLHF_EXPECTS(max_grad_norm >= 0 && std::isfinite(max_grad_norm),
                 "sft: --max-grad-norm must be >= 0 (0 turns clipping off; got ", max_grad_norm, ")");
    RLHF_EXPECTS(warmup >= 0, "sft: --warmup must be >= 0 (got ", warmup, ")");
    RLHF_EXPECTS(min_lr >= 0 && min_lr <= lr, "sft: --min-lr must be in [0, lr] (got ", min_lr, ")");
    RLHF_EXPECTS(max_length == 0 || max_length >= 2, "sft: --max-length must be 0 (the model's) or >= 2 (got ",
                 max_length, ")");
    RLHF_EXPECTS(pad_id >= 0, "sft: pad id must be >= 0 (got ", pad_id, ")");
    if (optimizer == optimizer_kind::adamw)
      adamw_config{beta1, beta2, eps, weight_decay}.validate();
    else
      sgd_config{.momentum = momentum, .weight_decay = weight_decay}.validate();
  }
};

/// What the step callback receives after each optimizer step (one JSON object with --json).
struct sft_step_metrics {
  index_t step = 0;              ///< 1-based optimizer step
  index_t total_steps = 0;
  index_t epoch = 0;             ///< 0-based epoch the step's examples come from
  double loss = 0.0;             ///< the batch's SFT loss before the update
  index_t tokens = 0;            ///< response tokens in the batch (the loss normaliser)
  index_t processed_tokens = 0;  ///< all non-padding tokens run through the model
  double lr = 0.0;               ///< learning rate of the update
  double grad_norm = 0.0;        ///< global gradient norm before clipping
  double tokens_per_second = 0.0;  ///< processed_tokens / wall time of the step
  bool skipped = false;          ///< NaN/inf gradients: the update was not applied
};

inline nlohmann::json to_json(const sft_step_metrics& m) {
  nlohmann::json j{{"step", m.step},  {"total_steps", m.total_steps}, {"epoch", m.epoch},
                   {"tokens", m.tokens}, {"lr", m.lr}, {"tokens_per_second", m.tokens_per_second},
                   {"skipped", m.skipped}};
  // JSON has no NaN: a non-finite value is written as null.
  j["loss"] = std::isfinite(m.loss) ? nlohmann::json(m.loss) : nlohmann::json(nullptr);
  j["grad_norm"] = std::isfinite(m.grad_norm) ? nlohmann::json(m.grad_norm) : nlohmann::json(nullptr);
  return j;
}

/// Summary of one train() call.
struct sft_result {
  index_t steps = 0;          ///< optimizer steps run (skipped ones included)
  index_t skipped_steps = 0;  ///< steps whose update was skipped (non-finite gradients)
  double first_loss = 0.0, last_loss = 0.0;
  double seconds = 0.0;
};

// ---- batching ----

/// Builds a right-padded token_batch from records[order[0]], records[order[1]], ...: tokens =
/// prompt ⊕ completion, response_mask = 1 on completion tokens, through rlhf::data::collate. A
/// pair longer than max_length keeps the last prompt tokens (at least one, so the first
/// completion token is still predicted), then truncates the completion at the end.
/// @throws rlhf::invalid_argument for an empty prompt or max_length < 2
template <std::ranges::random_access_range Records>
  requires sft_record<std::ranges::range_value_t<Records>>
token_batch collate_sft(const Records& records, std::span<const std::size_t> order, index_t max_length,
                        token_id pad_id = 0) {
  RLHF_EXPECTS(max_length >= 2, "collate_sft: max_length must be >= 2 (got ", max_length, ")");
  std::vector<data::sequence_pair> rows;
  rows.reserve(order.size());
  for (std::size_t i : order) {
    const auto& r = records[i];
    rows.push_back({std::span<const token_id>(std::ranges::data(r.prompt_ids), std::ranges::size(r.prompt_ids)),
                    std::span<const token_id>(std::ranges::data(r.completion_ids), std::ranges::size(r.completion_ids))});
  }
  return data::collate(std::span<const data::sequence_pair>(rows), {.pad_id = pad_id, .max_length = max_length});
}

/// A permutation of [0, n) that depends only on (seed, epoch): Fisher–Yates driven by the
/// counter-based RNG, so the data order is reproducible and independent of thread count.
inline std::vector<std::size_t> shuffled_order(std::size_t n, std::uint64_t seed, std::uint64_t epoch) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  const counter_rng rng(seed, 0x5f7ull << 32 | epoch);
  for (std::size_t i = n; i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.uniform(i) * static_cast<double>(i));
    std::swap(order[i - 1], order[std::min(j, i - 1)]);
  }
  return order;
}

// ---- loss ----

/// The SFT loss sum of one micro-batch for accumulate_gradients: returns -Σ mask · logp over
/// the counted positions and writes d_out = -mask there.
struct sft_loss_sum {
  template <class T>
  double operator()(const xt::xtensor<T, 2>& logp, const token_batch& batch, xt::xtensor<T, 2>& d_out) const {
    double sum = 0.0;
    for (std::size_t b = 0; b < logp.shape(0); ++b) {
      const auto len = static_cast<std::size_t>(batch.lengths(b));
      for (std::size_t t = 1; t < len; ++t) {
        if (batch.response_mask(b, t) == 0) continue;
        sum -= static_cast<double>(logp(b, t));
        d_out(b, t) = T(-1);
      }
    }
    return sum;
  }
};

/// Mean response-token negative log-likelihood of a model over some batches.
struct nll_result {
  double mean_nll = 0.0;   ///< total_nll / tokens (nats per response token)
  double total_nll = 0.0;
  index_t tokens = 0;
  double perplexity() const noexcept { return std::exp(mean_nll); }
};

/// Held-out loss with the SFT convention (no gradients; the model's score()).
/// @throws rlhf::invalid_argument when the batches hold no response tokens
template <sequence_scorer Model>
nll_result evaluate_nll(Model& model, std::span<const token_batch> batches) {
  nll_result r;
  for (const auto& batch : batches) {
    const auto logp = model.score(batch);
    for (std::size_t b = 0; b < logp.shape(0); ++b) {
      const auto len = static_cast<std::size_t>(batch.lengths(b));
      for (std::size_t t = 1; t < len; ++t)
        if (batch.response_mask(b, t) != 0) {
          r.total_nll -= static_cast<double>(logp(b, t));
          ++r.tokens;
        }
    }
  }
  RLHF_EXPECTS(r.tokens > 0, "evaluate_nll: the batches hold no response tokens (response_mask is 0 "
               "everywhere past the first position)");
  r.mean_nll = r.total_nll / static_cast<double>(r.tokens);
  return r;
}

/// The same over records, in order, batch_size at a time, truncated to max_length tokens
/// (0 = the model's max_positions()).
template <sequence_scorer Model, std::ranges::random_access_range Records>
  requires sft_record<std::ranges::range_value_t<Records>>
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
    batches.push_back(collate_sft(records, std::span<const std::size_t>(order).subspan(i, e - i), max_length));
  }
  return evaluate_nll(model, std::span<const token_batch>(batches));
}

// ---- trainer ----

/// SFT trainer (see the file comment for the loss). Holds the optimizer, so state carries over
/// between train() calls; the model must outlive the trainer.
/// @tparam Model an `sft_model` (tabular_lm, transformer<Backend, lm_head>)
template <sft_model Model>
class sft_trainer {
 public:
  using backend_type = model_backend_t<Model>;
  using scalar_type = model_scalar_t<Model>;
  using callback = std::function<void(const sft_step_metrics&)>;

  /// @throws rlhf::invalid_argument for a config outside its ranges
  sft_trainer(Model& model, const sft_config& cfg) : model_(&model), config_(cfg), optimizer_(make_optimizer(model, cfg)) {
    config_.validate();
    if (config_.max_length == 0) config_.max_length = static_cast<index_t>(model.max_positions());
    RLHF_EXPECTS(config_.max_length <= static_cast<index_t>(model.max_positions()), "sft: --max-length ",
                 config_.max_length, " exceeds the model's n_positions ", model.max_positions());
    RLHF_EXPECTS(config_.pad_id < static_cast<index_t>(model.vocab_size()), "sft: pad id ", config_.pad_id,
                 " is outside the vocabulary [0, ", model.vocab_size(), ")");
  }

  const sft_config& config() const noexcept { return config_; }

  /// Optimizer steps train() runs on n examples.
  index_t planned_steps(index_t n_examples) const {
    if (config_.steps > 0) return config_.steps;
    return config_.epochs * steps_per_epoch(n_examples);
  }

  /// Trains on `records` (each with prompt_ids and completion_ids), calling `on_step` after
  /// every optimizer step. The schedule spans planned_steps(records.size()).
  /// @throws rlhf::invalid_argument for an empty dataset, an empty completion or an id >= V
  template <std::ranges::random_access_range Records>
    requires sft_record<std::ranges::range_value_t<Records>>
  sft_result train(const Records& records, const callback& on_step = {}) {
    const auto n = static_cast<index_t>(std::ranges::size(records));
    RLHF_EXPECTS(n > 0, "sft: the dataset is empty");
    check_records(records);
    const index_t total = planned_steps(n);
    const lr_schedule schedule{config_.schedule, config_.lr, config_.warmup, total, config_.min_lr};
    schedule.validate();
    const index_t per_step = config_.batch_size * config_.grad_accum, per_epoch = steps_per_epoch(n);
    const auto start = std::chrono::steady_clock::now();
    sft_result result;
    std::vector<std::size_t> order;
    index_t order_epoch = -1;
    for (index_t s = 0; s < total; ++s) {
      const auto t0 = std::chrono::steady_clock::now();
      const index_t epoch = s / per_epoch;
      if (epoch != order_epoch) {
        order = order_for(static_cast<std::size_t>(n), epoch);
        order_epoch = epoch;
      }
      const index_t first = (s % per_epoch) * per_step, last = std::min(n, first + per_step);
      std::vector<token_batch> micro;
      for (index_t i = first; i < last; i += config_.batch_size) {
        const index_t e = std::min(last, i + config_.batch_size);
        micro.push_back(collate_sft(records, std::span<const std::size_t>(order).subspan(
                                                 static_cast<std::size_t>(i), static_cast<std::size_t>(e - i)),
                                    config_.max_length, config_.pad_id));
      }
      sft_step_metrics m;
      m.step = s + 1;
      m.total_steps = total;
      m.epoch = epoch;
      m.lr = schedule(s);
      m.tokens = count_response_tokens(std::span<const token_batch>(micro));
      for (const auto& mb : micro) m.processed_tokens += static_cast<index_t>(xt::sum(mb.lengths)());
      model_->zero_grad();
      m.loss = accumulate_gradients(*model_, std::span<const token_batch>(micro),
                                    static_cast<double>(m.tokens), sft_loss_sum{});
      const clip_result clip = clip_grad_norm(*model_, config_.max_grad_norm);
      m.grad_norm = clip.norm;
      m.skipped = !clip.finite;
      if (!m.skipped) std::visit([&](auto& opt) { opt.step(m.lr); }, optimizer_);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      m.tokens_per_second = dt > 0 ? static_cast<double>(m.processed_tokens) / dt : 0.0;
      if (s == 0) result.first_loss = m.loss;
      result.last_loss = m.loss;
      result.skipped_steps += m.skipped;
      ++result.steps;
      if (on_step) on_step(m);
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  }

 private:
  using optimizer_variant = std::variant<adamw<backend_type, scalar_type>, sgd<backend_type, scalar_type>>;

  static optimizer_variant make_optimizer(Model& model, const sft_config& cfg) {
    cfg.validate();
    if (cfg.optimizer == optimizer_kind::sgd)
      return optimizer_variant(std::in_place_index<1>, parameter_list(model),
                               sgd_config{.momentum = cfg.momentum, .weight_decay = cfg.weight_decay});
    return optimizer_variant(std::in_place_index<0>, parameter_list(model),
                             adamw_config{cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay});
  }

  index_t steps_per_epoch(index_t n) const {
    const index_t per_step = config_.batch_size * config_.grad_accum;
    return std::max<index_t>(1, (n + per_step - 1) / per_step);
  }

  std::vector<std::size_t> order_for(std::size_t n, index_t epoch) const {
    if (config_.shuffle) return shuffled_order(n, config_.seed, static_cast<std::uint64_t>(epoch));
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    return order;
  }

  template <class Records>
  void check_records(const Records& records) const {
    const auto v = static_cast<index_t>(model_->vocab_size());
    index_t i = 0;
    for (const auto& r : records) {
      RLHF_EXPECTS(std::ranges::size(r.completion_ids) > 0, "sft: record ", i,
                   " has an empty completion; every record needs at least one completion token");
      RLHF_EXPECTS(std::ranges::size(r.prompt_ids) > 0, "sft: record ", i,
                   " has an empty prompt; every record needs at least one prompt token");
      for (auto id : r.prompt_ids)
        RLHF_EXPECTS(id >= 0 && id < v, "sft: record ", i, ": prompt token id ", id, " is outside the vocabulary [0, ",
                     v, ")");
      for (auto id : r.completion_ids)
        RLHF_EXPECTS(id >= 0 && id < v, "sft: record ", i, ": completion token id ", id,
                     " is outside the vocabulary [0, ", v, ")");
      ++i;
    }
  }

  Model* model_;
  sft_config config_;
  optimizer_variant optimizer_;
};

}  // namespace rlhf::train
