// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// CD value models in the FUDGE form (controlled decoding, Mudgal et al. 2023, §3 "CD-FUDGE";
/// Yang & Klein 2021; ALGORITHMS.md §5): a prefix scorer V(s, a^{≤i}) — a value model (backbone +
/// scalar_head) read at EVERY position — regressed on the final reward r(s, a) of completions
/// sampled from π_ref, at every prefix of the completion:
///   L = 1/N Σ_{records} Σ_{i=1}^{|a|} ½ (V(s, a^{≤i}) − r(s, a))²,   N = response tokens of the batch,
/// so ∂L/∂V(s, a^{≤i}) = (V − r)/N, and with gradient accumulation N counts the tokens of the whole
/// optimizer batch (accumulation.hpp). V(s, a^{≤i}) sits at the position of token a^i
/// (response_alignment::token): what token-wise CD reads after appending a candidate, and at the
/// last token it is the model's estimate of the sequence reward (what `rlhf score` reports).
///
/// Data, two sources:
///  - scored records (`scored_record`: prompt_ids, completion_ids, reward; data::scored_example,
///    the scored-responses JSONL of CLI.md), trained on with value_trainer::train;
///  - completions the trainer samples from π_ref itself (rlhf::generate with any sampler) and
///    scores with a reward source — a value model read at the last token (sequence_rewards) or a
///    gold callable (prompt, completion) -> double — (sample_scored, value_trainer::train_sampled).
/// Metrics: loss, R² of the last-token value against the reward, and the mean last-token value.
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <numeric>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/data/collate.hpp"
#include "rlhf/data/datasets.hpp"
#include "rlhf/data/response_view.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/decoding/generate.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/heads.hpp"
#include "rlhf/model/sequence_rewards.hpp"
#include "rlhf/sampling/concepts.hpp"
#include "rlhf/train/accumulation.hpp"
#include "rlhf/train/dataset_loop.hpp"
#include "rlhf/train/optimizer_config.hpp"
#include "rlhf/train/reward.hpp"
#include "rlhf/train/training_loop.hpp"

namespace rlhf::train {

// ---- inputs ----

/// A scored completion: prompt_ids, completion_ids (contiguous token_id ranges) and a reward
/// convertible to double (data::scored_example, or any user type with those members).
template <class R>
concept scored_record = data::prompt_completion_record<R> && requires(const R& r) {
  { r.reward } -> std::convertible_to<double>;
};

/// A reward source for sampled completions: a callable (prompt, completion) -> double, e.g. a
/// gold reward function (a value model is the other source; see score_completions).
template <class F>
concept gold_reward = std::invocable<F&, std::span<const token_id>, std::span<const token_id>> &&
                      std::convertible_to<std::invoke_result_t<F&, std::span<const token_id>, std::span<const token_id>>,
                                          double>;

/// CD value-model settings (CLI.md `rlhf reward --kind value`); the optimizer's are shared by
/// every trainer. Validated by the trainer's constructor (and against the model by train()).
struct value_config {
  optimizer_config optimizer{};  ///< --optimizer, --lr, schedule, clipping, accumulation
  index_t steps = 0;             ///< optimizer steps; 0 = run `epochs` epochs
  index_t epochs = 1;            ///< passes over the data when steps = 0
  index_t batch_size = 8;        ///< records per micro-batch (× grad_accum per step)
  std::uint64_t seed = 0;        ///< shuffling
  bool shuffle = false;          ///< false = file order (CLI.md)
  index_t max_length = 0;        ///< longest sequence; 0 = the model's max_positions()
  token_id pad_id = 0;           ///< padding token (never scored)

  /// @throws rlhf::invalid_argument naming the option and its allowed range
  void validate() const {
    optimizer.validate("value");  // steps, epochs and batch_size: dataset_loop
    RLHF_EXPECTS(max_length == 0 || max_length >= 2, "value: --max-length must be 0 (the model's) or >= 2 (got ",
                 max_length, ")");
    RLHF_EXPECTS(pad_id >= 0, "value: pad id must be >= 0 (got ", pad_id, ")");
  }
};

/// Value-model metrics over some scored completions.
struct value_metrics {
  double loss = 0.0;         ///< mean ½ (V(s, a^{≤i}) − r)² over response tokens
  double r2 = 0.0;           ///< 1 − Σ (V_last − r)² / Σ (r − r̄)² (0 when every reward is the same)
  double mean_value = 0.0;   ///< mean V at the last token
  double mean_reward = 0.0;  ///< mean r
  index_t records = 0;
  index_t tokens = 0;        ///< response tokens (prefixes) counted
};

/// {"loss", "r2", "value/mean", "reward/mean", "records", "tokens"}.
inline nlohmann::json to_json(const value_metrics& m) {
  return {{"loss", m.loss},         {"r2", m.r2},           {"value/mean", m.mean_value},
          {"reward/mean", m.mean_reward}, {"records", m.records}, {"tokens", m.tokens}};
}

namespace detail {

/// One scored completion as the trainer sees it.
struct scored_row {
  std::span<const token_id> prompt, completion;
  double reward = 0.0;
};

/// Validates `records` and views them. Errors name the record (1-based) and the fix.
template <class Records>
std::vector<scored_row> scored_rows(const Records& records, index_t vocab, index_t max_len, std::string_view who) {
  std::vector<scored_row> out;
  out.reserve(static_cast<std::size_t>(std::ranges::size(records)));
  index_t n = 0;
  for (const auto& r : records) {
    ++n;
    scored_row row{token_span(r.prompt_ids), token_span(r.completion_ids), static_cast<double>(r.reward)};
    RLHF_EXPECTS(!row.prompt.empty(), who, ": record ", n,
                 " has an empty prompt; every record needs at least one prompt token");
    RLHF_EXPECTS(!row.completion.empty(), who, ": record ", n,
                 " has an empty completion; a value is regressed at every completion token, so give it at least one");
    RLHF_EXPECTS(static_cast<index_t>(row.prompt.size()) < max_len, who, ": record ", n, ": the prompt has ",
                 row.prompt.size(), " tokens but a sequence holds at most ", max_len,
                 " (--max-length, or the model's n_positions); shorten the prompt or raise --max-length");
    RLHF_EXPECTS(std::isfinite(row.reward), who, ": record ", n, ": reward ", row.reward,
                 " is not a finite number; fix or drop the record");
    const auto check_ids = [&](std::span<const token_id> ids, const char* what) {
      for (token_id id : ids)
        RLHF_EXPECTS(id >= 0 && id < vocab, who, ": record ", n, ": ", what, " token id ", id,
                     " is outside the vocabulary [0, ", vocab, "); tokenize with this model's tokenizer");
    };
    check_ids(row.prompt, "prompt");
    check_ids(row.completion, "completion");
    out.push_back(row);
  }
  return out;
}

/// Running sums of the value loss and the last-token fit.
struct value_sums {
  double loss = 0.0, sq_err = 0.0, value = 0.0, reward = 0.0, reward_sq = 0.0;
  index_t records = 0, tokens = 0;
  value_metrics mean() const {
    value_metrics m;
    m.records = records;
    m.tokens = tokens;
    if (records == 0) return m;
    const double n = static_cast<double>(records);
    m.loss = tokens > 0 ? loss / static_cast<double>(tokens) : 0.0;
    m.mean_value = value / n;
    m.mean_reward = reward / n;
    const double sst = reward_sq - n * m.mean_reward * m.mean_reward;
    m.r2 = sst > 1e-12 * std::max(1.0, reward_sq) ? 1.0 - sq_err / sst : 0.0;
    return m;
  }
};

/// Adds the value loss of one micro-batch (rows[idx...] collated as `batch`, `values` its (B, T)
/// output) to `sums`, and ∂(Σ ½ (V − r)²)/∂V into d_out when given. Returns the loss sum.
template <class T>
double add_value_loss(const xt::xtensor<T, 2>& values, const token_batch& batch, std::span<const scored_row> rows,
                      std::span<const std::size_t> idx, value_sums& sums, xt::xtensor<T, 2>* d_out) {
  const data::response_view view(batch);
  const auto v = view.gather(values);
  xt::xtensor<double, 2> d = xt::zeros<double>(v.shape());
  const auto last = last_token_values(batch, values);
  double loss = 0.0;
  for (std::size_t b = 0; b < idx.size(); ++b) {
    const double r = rows[idx[b]].reward;
    const auto len = static_cast<std::size_t>(view.length(static_cast<index_t>(b)));
    for (std::size_t j = 0; j < len; ++j) {
      const double e = v(b, j) - r;
      loss += 0.5 * e * e;
      d(b, j) = e;
    }
    const double e_last = static_cast<double>(last(b)) - r;
    sums.sq_err += e_last * e_last;
    sums.value += static_cast<double>(last(b));
    sums.reward += r;
    sums.reward_sq += r * r;
    ++sums.records;
  }
  sums.loss += loss;
  sums.tokens += view.total();
  if (d_out) view.scatter_add(*d_out, d);
  return loss;
}

/// One micro-batch: rows[idx...] as prompt ⊕ completion.
inline token_batch collate_scored(std::span<const scored_row> rows, std::span<const std::size_t> idx,
                                  const data::collate_options& opt) {
  std::vector<data::sequence_pair> pairs;
  pairs.reserve(idx.size());
  for (std::size_t i : idx) pairs.push_back({rows[i].prompt, rows[i].completion});
  return data::collate(std::span<const data::sequence_pair>(pairs), opt);
}

template <value_model Model>
value_metrics evaluate_rows(Model& model, std::span<const scored_row> rows, index_t batch_size, index_t max_length,
                            token_id pad_id) {
  std::vector<std::size_t> order(rows.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  value_sums sums;
  for (std::size_t i = 0; i < order.size(); i += static_cast<std::size_t>(batch_size)) {
    const auto idx = std::span<const std::size_t>(order).subspan(
        i, std::min(order.size() - i, static_cast<std::size_t>(batch_size)));
    const auto batch = collate_scored(rows, idx, {.pad_id = pad_id, .max_length = max_length});
    const auto values = model.score(batch);
    using value_t = typename std::remove_cvref_t<decltype(values)>::value_type;
    const xt::xtensor<value_t, 2> dense = values;
    add_value_loss<value_t>(dense, batch, rows, idx, sums, nullptr);
  }
  return sums.mean();
}

}  // namespace detail

/// Held-out value-model metrics of scored `records` (in order, batch_size per forward pass,
/// truncated to max_length tokens, 0 = the model's max_positions()) through the inference path.
/// @throws rlhf::invalid_argument for a bad record (named, 1-based), no records or batch_size < 1
template <value_model Model, std::ranges::random_access_range Records>
  requires scored_record<std::ranges::range_value_t<Records>>
value_metrics evaluate_value(Model& model, const Records& records, index_t batch_size, index_t max_length,
                             token_id pad_id = 0) {
  RLHF_EXPECTS(batch_size >= 1, "evaluate_value: batch_size must be >= 1 (got ", batch_size, ")");
  if (max_length == 0) max_length = static_cast<index_t>(model.max_positions());
  RLHF_EXPECTS(max_length >= 2, "evaluate_value: max_length must be 0 (the model's) or >= 2 (got ", max_length, ")");
  const auto rows = detail::scored_rows(records, static_cast<index_t>(model.vocab_size()), max_length, "evaluate_value");
  RLHF_EXPECTS(!rows.empty(), "evaluate_value: no records");
  return detail::evaluate_rows(model, rows, batch_size, max_length, pad_id);
}

// ---- sampled completions ----

/// The rewards of (prompts[i], completions[i]) from `reward`: a value model read at the last
/// token (sequence_rewards, batch_size rows per forward pass, each row left-truncated to the
/// model's positions as data::collate does), or a gold callable (prompt, completion) -> double.
/// @throws rlhf::invalid_argument for a token outside the reward model's vocabulary;
///         rlhf::numerical_error for a reward that is not finite (naming the completion)
template <class Reward>
  requires value_model<Reward> || gold_reward<Reward>
std::vector<double> score_completions(Reward& reward, std::span<const std::vector<token_id>> prompts,
                                      std::span<const std::vector<token_id>> completions, index_t batch_size = 16,
                                      token_id pad_id = 0) {
  RLHF_EXPECTS(prompts.size() == completions.size(), "score_completions: ", prompts.size(), " prompts for ",
               completions.size(), " completions; give one prompt per completion");
  RLHF_EXPECTS(batch_size >= 1, "score_completions: batch_size must be >= 1 (got ", batch_size, ")");
  std::vector<double> out;
  out.reserve(completions.size());
  if constexpr (value_model<Reward>) {
    const auto vocab = static_cast<index_t>(reward.vocab_size());
    for (std::size_t i = 0; i < completions.size(); ++i)
      for (const auto* ids : {&prompts[i], &completions[i]})
        for (token_id id : *ids)
          RLHF_EXPECTS(id >= 0 && id < vocab, "score_completions: completion ", i, " holds token id ", id,
                       " outside the reward model's vocabulary [0, ", vocab, "); use a reward model of this tokenizer");
    for (std::size_t first = 0; first < completions.size(); first += static_cast<std::size_t>(batch_size)) {
      const std::size_t last = std::min(completions.size(), first + static_cast<std::size_t>(batch_size));
      std::vector<data::sequence_pair> rows;
      for (std::size_t i = first; i < last; ++i) rows.push_back({prompts[i], completions[i]});
      const auto r = sequence_rewards(
          reward, data::collate(std::span<const data::sequence_pair>(rows),
                                {.pad_id = pad_id, .max_length = static_cast<index_t>(reward.max_positions())}));
      out.insert(out.end(), r.begin(), r.end());
    }
  } else {
    for (std::size_t i = 0; i < completions.size(); ++i)
      out.push_back(static_cast<double>(
          std::invoke(reward, std::span<const token_id>(prompts[i]), std::span<const token_id>(completions[i]))));
  }
  for (std::size_t i = 0; i < out.size(); ++i)
    if (!std::isfinite(out[i]))
      RLHF_THROW(numerical_error, "score_completions: the reward of completion ", i, " is ", out[i],
                 "; the reward source must return finite numbers");
  return out;
}

/// CD training data sampled from π_ref: `per_prompt` completions of every prompt (prompt i's
/// j-th is generate's prompt i·per_prompt + j, so it has its own sampling stream under opt.seed),
/// each scored by `reward` (score_completions). Same seed ⇒ same records.
/// @throws as rlhf::generate and score_completions; rlhf::invalid_argument for per_prompt < 1
template <language_model Ref, sampler Sampler, class Reward>
  requires value_model<Reward> || gold_reward<Reward>
std::vector<data::scored_example> sample_scored(Ref& ref, std::span<const std::vector<token_id>> prompts,
                                                const Sampler& sampler, const generate_options& opt, Reward& reward,
                                                index_t per_prompt = 1, token_id pad_id = 0) {
  RLHF_EXPECTS(per_prompt >= 1, "sample_scored: per_prompt must be >= 1 (got ", per_prompt, ")");
  RLHF_EXPECTS(!prompts.empty(), "sample_scored: no prompts");
  std::vector<std::vector<token_id>> repeated;
  repeated.reserve(prompts.size() * static_cast<std::size_t>(per_prompt));
  for (const auto& p : prompts)
    for (index_t j = 0; j < per_prompt; ++j) repeated.push_back(p);
  auto generated = generate(ref, std::span<const std::vector<token_id>>(repeated), sampler, opt);
  std::vector<std::vector<token_id>> completions;
  completions.reserve(generated.sequences.size());
  for (auto& g : generated.sequences) completions.push_back(std::move(g.tokens));
  const auto rewards = score_completions(reward, std::span<const std::vector<token_id>>(repeated),
                                         std::span<const std::vector<token_id>>(completions), opt.batch_size, pad_id);
  std::vector<data::scored_example> out(repeated.size());
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = {std::move(repeated[i]), std::move(completions[i]), rewards[i]};
  return out;
}

// ---- trainer ----

/// CD-FUDGE value-model trainer on the shared training loop (training_loop.hpp, walked over the
/// records by dataset_loop.hpp): the step function collates the step's scored completions and
/// accumulates the gradient of the mean per-prefix squared error (file comment); the loops do the
/// rest (data order, clipping, schedule, progress, JSON, evaluation, checkpoints and resume).
/// Step metrics: r2, value/mean, epoch. The trainer never holds the model.
/// @tparam Model a `reward_model` (value model + differentiable: tabular_value_model,
///         transformer<Backend, scalar_head>)
template <reward_model Model>
class value_trainer {
 public:
  using loop_type = training_loop<Model>;

  /// @throws rlhf::invalid_argument for a config or an option outside its range
  explicit value_trainer(const value_config& cfg, loop_options options = {})
      : config_((cfg.validate(), cfg)),
        data_("value", {cfg.steps, cfg.epochs, cfg.batch_size, cfg.optimizer.grad_accum, cfg.seed, cfg.shuffle},
              cfg.optimizer, value_head(std::move(options))) {}

  const value_config& config() const noexcept { return config_; }
  loop_type& loop() noexcept { return data_.loop(); }

  /// Optimizer steps train() runs on n records.
  index_t planned_steps(index_t n_records) const { return data_.schedule().planned_steps(n_records); }
  /// The longest sequence train() collates for `model`. @throws rlhf::invalid_argument
  index_t max_length(const Model& model) const { return data_.max_length(model, config_.max_length, config_.pad_id); }

  /// Trains `model` on scored `records` from the loop's current step to planned_steps(size);
  /// `eval(model) -> json` runs every eval_every steps and after the last
  /// (e.g. to_json(evaluate_value(...))).
  /// @throws rlhf::invalid_argument for an empty dataset, a bad record (named, 1-based, with the
  ///         fix: NaN reward, empty completion, id >= V, prompt longer than the context), a
  ///         max_length or pad id the model cannot take, or data other than the checkpoint's
  template <std::ranges::random_access_range Records, class EvalFn = no_evaluation>
    requires scored_record<std::ranges::range_value_t<Records>>
  loop_result train(Model& model, const Records& records, EvalFn&& eval = {}) {
    const auto rows = prepare(model, records);
    const index_t max_len = max_length(model);
    const auto step = [&](Model& m, std::span<const std::size_t> idx, index_t) {
      return run_batch(m, rows, idx, max_len);
    };
    return data_.run(model, static_cast<index_t>(rows.size()), step, std::forward<EvalFn>(eval));
  }

  /// Samples CD training data from π_ref (sample_scored: per_prompt completions of every prompt,
  /// scored by a value model read at the last token or a gold callable) and trains on it (train).
  /// The samples are a function of opt.seed, so a resumed run sees the same records.
  template <language_model Ref, sampler Sampler, class Reward, class EvalFn = no_evaluation>
    requires value_model<Reward> || gold_reward<Reward>
  loop_result train_sampled(Model& model, Ref& ref, std::span<const std::vector<token_id>> prompts,
                            const Sampler& sampler, const generate_options& opt, Reward&& reward,
                            index_t per_prompt = 1, EvalFn&& eval = {}) {
    const auto data = sample_scored(ref, prompts, sampler, opt, reward, per_prompt, config_.pad_id);
    return train(model, data, std::forward<EvalFn>(eval));
  }

  /// The loss of all `records`, in order, as ONE optimizer batch (micro-batches of batch_size),
  /// accumulating (+=) its gradient into the model. Gradients are NOT zeroed first.
  template <std::ranges::random_access_range Records>
    requires scored_record<std::ranges::range_value_t<Records>>
  step_output accumulate(Model& model, const Records& records) const {
    const auto rows = prepare(model, records);
    std::vector<std::size_t> order(rows.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    return run_batch(model, rows, order, max_length(model));
  }

  /// Restores a checkpoint of this trainer; the next train() on the same data continues bit-identically.
  nlohmann::json resume(Model& model, const std::filesystem::path& checkpoint) { return data_.resume(model, checkpoint); }

 private:
  static loop_options value_head(loop_options o) {
    if (o.head == head_kind::lm) o.head = head_kind::value;
    return o;
  }

  template <class Records>
  std::vector<detail::scored_row> prepare(const Model& model, const Records& records) const {
    RLHF_EXPECTS(std::ranges::size(records) > 0, "value: the dataset is empty");
    return detail::scored_rows(records, static_cast<index_t>(model.vocab_size()), max_length(model), "value");
  }

  step_output run_batch(Model& m, std::span<const detail::scored_row> rows, std::span<const std::size_t> idx,
                        index_t max_len) const {
    const data::collate_options opt{.pad_id = config_.pad_id, .max_length = max_len};
    std::vector<token_batch> micro;
    std::vector<std::span<const std::size_t>> micro_idx;
    for (std::size_t i = 0; i < idx.size(); i += static_cast<std::size_t>(config_.batch_size)) {
      micro_idx.push_back(idx.subspan(i, std::min(idx.size() - i, static_cast<std::size_t>(config_.batch_size))));
      micro.push_back(detail::collate_scored(rows, micro_idx.back(), opt));
    }
    step_output out;
    out.tokens = count_response_tokens(std::span<const token_batch>(micro));
    for (const auto& mb : micro) out.processed_tokens += static_cast<index_t>(xt::sum(mb.lengths)());
    detail::value_sums sums;
    std::size_t k = 0;
    out.loss = accumulate_gradients(m, std::span<const token_batch>(micro), data_.global_count(out.tokens),
                                    [&](const auto& values, const token_batch& mb, auto& d_out) {
                                      return detail::add_value_loss(values, mb, rows, micro_idx[k++], sums, &d_out);
                                    });
    const auto mean = sums.mean();
    out.metrics["r2"] = mean.r2;
    out.metrics["value/mean"] = mean.mean_value;
    return out;
  }

  value_config config_;
  dataset_loop<Model> data_;
};

}  // namespace rlhf::train
