// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// FaRMA token reward models (Rashid et al. 2025, "Towards Cost-Effective Reward Guided Text
/// Generation"; ALGORITHMS.md §5): a backbone with a V-wide head R(s, a^{<i}) ∈ R^V, all next-
/// token rewards in one call, whose prefix reward is r(s, a^{≤i}) = R(s, a^{<i})[a^i]. Training
/// alternates two losses:
///   L1 = 1/|P| Σ ℓ(r(s, a₊), r(s, a₋))          Bradley–Terry (any reward_objective of reward.hpp:
///                                               loss, margin, centring) on full sequences, the
///                                               reward read at the last token;
///   L2 = ½ mean_i (r(s, a^{1:i}) - max_v R(s, a^{1:i})[v])²   over the prefixes of the chosen
///                                               responses (objective/max_consistency_loss.hpp),
/// a Bellman-optimality style consistency: the reward of a prefix equals the best reward one more
/// token can reach, so partial responses are scored like complete ones.
///
/// Alternation (farma_alternation):
///  - `step` (the paper's pseudocode): an L1 minibatch step, then an L2 minibatch step; with
///    l2_every = n, one L2 step after every n L1 steps. The L1 steps follow the data schedule of
///    reward_config (steps, or epochs × ceil(records / (batch_size × grad_accum))); the L2 steps
///    walk the chosen responses with their own (seeded) order.
///  - `epoch` (the reference implementation): `rounds` × (an L1 epoch over the pairs, then an L2
///    epoch over the chosen responses); the released scripts use 7 rounds.
/// Every step is one optimizer step of the shared training loop, with micro-batches of
/// batch_size records (× grad_accum) and the loss normalised over the whole optimizer batch
/// (pairs for L1, response positions for L2), so accumulation equals the big batch.
///
/// The losses read only B (L1) or 2 numbers per position (L2) of the (B, T, V) rewards: the model's
/// gathered read-out (`token_reward_readout`, model/concepts.hpp) computes them on the backend,
/// and its backward scatters their gradients into the (N, V) rewards gradient there.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/data/batching.hpp"
#include "rlhf/data/collate.hpp"
#include "rlhf/data/response_view.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/objective/max_consistency_loss.hpp"
#include "rlhf/train/dataset_loop.hpp"
#include "rlhf/train/reward.hpp"
#include "rlhf/train/training_loop.hpp"

namespace rlhf::train {

/// How FaRMA alternates its two losses (file comment).
enum class farma_alternation {
  step,   ///< l2_every L1 minibatch steps, then one L2 minibatch step (the paper's pseudocode)
  epoch,  ///< rounds × (an L1 epoch, then an L2 epoch) (the reference implementation)
};

inline std::string_view to_string(farma_alternation a) noexcept { return a == farma_alternation::step ? "step" : "epoch"; }
/// @throws rlhf::invalid_argument for anything but "step" or "epoch"
inline farma_alternation parse_farma_alternation(std::string_view s) {
  if (s == "step") return farma_alternation::step;
  if (s == "epoch") return farma_alternation::epoch;
  RLHF_THROW(invalid_argument, "farma: the alternation must be step (an L1 step, then an L2 step) or epoch (rounds of ",
             "an L1 epoch, then an L2 epoch); got '", s, "'");
}

/// FaRMA settings: the sequence reward settings of L1 (optimizer, data walk, loss, margin,
/// centring; reward.hpp) plus the alternation and L2's options.
struct farma_config {
  reward_config l1{};                                   ///< L1 and everything the reward trainer has
  farma_alternation alternation = farma_alternation::step;
  index_t l2_every = 1;      ///< step alternation: an L2 step after every n L1 steps (--l2-every)
  index_t rounds = 1;        ///< epoch alternation: (L1 epoch, L2 epoch) rounds (--rounds; the reference uses 7)
  bool stop_gradient_max = false;  ///< L2's max_v R target is a constant (the reference trains both sides)
  double l2_weight = 1.0;    ///< L2 is scaled by this (1 in the paper)

  /// @throws rlhf::invalid_argument naming the option and its range
  void validate() const {
    l1.validate();
    RLHF_EXPECTS(l2_every >= 1, "farma: --l2-every must be >= 1 (got ", l2_every, ")");
    RLHF_EXPECTS(rounds >= 1, "farma: --rounds must be >= 1 (got ", rounds, ")");
    RLHF_EXPECTS(alternation != farma_alternation::epoch || l1.steps == 0,
                 "farma: --steps is the length of the step alternation; the epoch alternation runs --rounds "
                 "rounds of (an L1 epoch, an L2 epoch), so leave --steps at 0 or use the step alternation");
    RLHF_EXPECTS(std::isfinite(l2_weight) && l2_weight > 0, "farma: the L2 weight must be > 0 (got ", l2_weight, ")");
  }
};

/// Held-out FaRMA metrics.
struct farma_metrics {
  reward_metrics l1;               ///< L1 (loss, accuracy, margins, chosen/rejected means) at the last token
  double l2 = 0.0;                 ///< ½ mean (r - max R)² over the chosen responses' prefixes
  double consistency_error = 0.0;  ///< mean |r(s, a^{1:i}) - max_v R(s, a^{1:i})[v]| over the same prefixes
  index_t prefixes = 0;            ///< prefixes counted
};

/// {"loss", "accuracy", "rewards/...", "pairs", "l1", "l2", "consistency_error", "prefixes"}.
inline nlohmann::json to_json(const farma_metrics& m) {
  nlohmann::json j = to_json(m.l1);
  j["l1"] = m.l1.loss;
  j["l2"] = m.l2;
  j["consistency_error"] = m.consistency_error;
  j["prefixes"] = m.prefixes;
  return j;
}

/// A model the FaRMA trainer can train: a token reward model with the gathered read-out and
/// gradients (tabular_token_reward_model, transformer<Backend, token_reward_head>).
template <class M>
concept farma_model = token_reward_readout<M> && differentiable_model<M>;

namespace detail {

/// The sequence rewards r(s, a) = picked(b, length(b) - 1) of a gathered read-out, as double.
template <class T>
std::vector<double> last_picked(const token_batch& batch, const xt::xtensor<T, 2>& picked) {
  const auto r = last_token_values(batch, picked);
  return {r.begin(), r.end()};
}

/// The chosen responses (response 0, the best) of groups[idx...] as rows.
inline token_batch collate_chosen(std::span<const reward_group> groups, std::span<const std::size_t> idx,
                                  const data::collate_options& opt) {
  std::vector<data::sequence_pair> rows;
  for (std::size_t gi : idx) rows.push_back({groups[gi].prompt, groups[gi].responses.front()});
  return data::collate(std::span<const data::sequence_pair>(rows), opt);
}

/// L2 terms of one batch of chosen responses: at every response position t, r = picked(b, t) and
/// m = max(b, t). Returns (Σ ½ (r - m)², Σ |r - m|, count) and, when wanted, the gradients of
/// `scale` · Σ ½ (r - m)² (through objective/max_consistency_loss.hpp) at those positions.
struct l2_sums {
  double half_squares = 0.0, abs = 0.0;
  index_t count = 0;
};
template <class T>
l2_sums add_consistency(const token_batch& batch, const picked_rewards<T>& out, const max_consistency_options& opt,
                        double scale, xt::xtensor<T, 2>* d_picked, xt::xtensor<T, 2>* d_max) {
  const data::response_view rv(batch);
  std::vector<double> r, m;
  std::vector<std::pair<std::size_t, std::size_t>> at;
  for (index_t b = 0; b < rv.rows(); ++b)
    for (index_t j = 0; j < rv.length(b); ++j) {
      const auto bb = static_cast<std::size_t>(b), t = static_cast<std::size_t>(rv.start(b) + j);
      r.push_back(static_cast<double>(out.picked(bb, t)));
      m.push_back(static_cast<double>(out.max(bb, t)));
      at.emplace_back(bb, t);
    }
  l2_sums s;
  if (r.empty()) return s;
  // max_v over a single column is the column itself: the objective gets the gathered maxima.
  const auto res = max_consistency_loss(r, real_matrix(real_span(m), static_cast<index_t>(m.size()), 1), opt);
  const auto n = static_cast<double>(r.size());
  s.half_squares = res.loss * n;
  s.count = static_cast<index_t>(r.size());
  for (std::size_t i = 0; i < r.size(); ++i) {
    s.abs += std::abs(r[i] - m[i]);
    if (d_picked) (*d_picked)(at[i].first, at[i].second) += static_cast<T>(scale * n * res.grad_reward[i]);
    if (d_max) (*d_max)(at[i].first, at[i].second) += static_cast<T>(scale * n * res.grad_max[i]);
  }
  return s;
}

}  // namespace detail

/// Held-out FaRMA metrics of `records` (in order, batch_size records per forward, max_length
/// tokens, 0 = the model's) through the inference path score_picked(): L1 metrics of the reward
/// at the last token (the loss is `objective`'s, by default -log σ(r₊ - r₋)), L2 and the
/// consistency error over the prefixes of the chosen (best) responses.
/// @throws rlhf::invalid_argument for a bad record (named, 1-based) or batch_size < 1
template <token_reward_readout Model, std::ranges::random_access_range Records>
  requires reward_record<std::ranges::range_value_t<Records>>
farma_metrics evaluate_farma(Model& model, const Records& records, index_t batch_size, index_t max_length,
                             const reward_objective& objective = {}, token_id pad_id = 0) {
  RLHF_EXPECTS(batch_size >= 1, "evaluate_farma: batch_size must be >= 1 (got ", batch_size, ")");
  if (max_length == 0) max_length = static_cast<index_t>(model.max_positions());
  RLHF_EXPECTS(max_length >= 2, "evaluate_farma: max_length must be 0 (the model's) or >= 2 (got ", max_length, ")");
  const auto groups = detail::reward_groups(records, static_cast<index_t>(model.vocab_size()), max_length,
                                            "evaluate_farma");
  RLHF_EXPECTS(!groups.empty(), "evaluate_farma: no records");
  std::vector<std::size_t> order(groups.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const data::collate_options opt{.pad_id = pad_id, .max_length = max_length};
  detail::pair_sums sums;
  detail::l2_sums l2;
  for (std::size_t i = 0; i < order.size(); i += static_cast<std::size_t>(batch_size)) {
    const auto idx = std::span<const std::size_t>(order).subspan(
        i, std::min(order.size() - i, static_cast<std::size_t>(batch_size)));
    const auto batch = detail::collate_groups(groups, idx, opt);
    const auto out = model.score_picked(batch);
    detail::add_pairs(groups, idx, detail::last_picked(batch, out.picked), objective, {}, sums);
    const auto chosen = detail::collate_chosen(groups, idx, opt);
    using T = typename decltype(out.picked)::value_type;
    const auto s = detail::add_consistency<T>(chosen, model.score_picked(chosen), {}, 1.0, nullptr, nullptr);
    l2.half_squares += s.half_squares;
    l2.abs += s.abs;
    l2.count += s.count;
  }
  farma_metrics m;
  m.l1 = sums.mean();
  m.prefixes = l2.count;
  if (l2.count > 0) {
    m.l2 = l2.half_squares / static_cast<double>(l2.count);
    m.consistency_error = l2.abs / static_cast<double>(l2.count);
  }
  return m;
}

/// FaRMA trainer on the shared training loop: each optimizer step is an L1 or an L2 step as the
/// alternation says (file comment); the loop does clipping, schedule, skipped steps, progress,
/// JSON, evaluation and checkpoints. The phase and the records of step s are a function of
/// (config, seed, s), so a resumed run continues bit-identically. The trainer never holds the model.
/// Step metrics: "l1" or "l2" (the step's loss, by phase), "phase" (1 or 2), "round", "accuracy"
/// (L1 steps), "consistency_error" (L2 steps).
/// @tparam Model a `farma_model` (tabular_token_reward_model, transformer<Backend, token_reward_head>)
template <farma_model Model>
class farma_trainer {
 public:
  using loop_type = training_loop<Model>;

  /// Which loss one optimizer step takes and on which records.
  struct planned_step {
    int phase = 1;            ///< 1 = L1 on pairs, 2 = L2 on chosen responses
    index_t pass = 0;         ///< the pass over the data the step belongs to (L1 or L2 epoch)
    index_t batch = 0;        ///< the step's batch within that pass
    index_t round = 0;        ///< epoch alternation: the round; step alternation: the L2 pass
  };

  /// @throws rlhf::invalid_argument for a config or an option outside its range
  explicit farma_trainer(const farma_config& cfg, loop_options options = {})
      : config_((cfg.validate(), cfg)), objective_(cfg.l1.objective()),
        data_("farma",
              {cfg.l1.steps, cfg.l1.epochs, cfg.l1.batch_size, cfg.l1.optimizer.grad_accum, cfg.l1.seed, cfg.l1.shuffle},
              cfg.l1.optimizer, token_head(std::move(options))) {}

  const farma_config& config() const noexcept { return config_; }
  const reward_objective& objective() const noexcept { return objective_; }
  loop_type& loop() noexcept { return data_.loop(); }
  index_t max_length(const Model& model) const {
    return data_.max_length(model, config_.l1.max_length, config_.l1.pad_id);
  }

  /// Optimizer steps per pass over n records.
  index_t steps_per_pass(index_t n) const { return data_.schedule().steps_per_epoch(n); }
  /// L1 optimizer steps train() runs on n records.
  index_t l1_steps(index_t n) const {
    if (config_.alternation == farma_alternation::epoch) return config_.rounds * steps_per_pass(n);
    return data_.schedule().planned_steps(n);
  }
  /// L2 optimizer steps train() runs on n records.
  index_t l2_steps(index_t n) const {
    if (config_.alternation == farma_alternation::epoch) return config_.rounds * steps_per_pass(n);
    return l1_steps(n) / config_.l2_every;
  }
  /// All optimizer steps train() runs on n records.
  index_t planned_steps(index_t n) const { return l1_steps(n) + l2_steps(n); }

  /// The phase and records of optimizer step s (0-based) on n records.
  planned_step plan(index_t s, index_t n) const {
    const index_t spp = steps_per_pass(n);
    planned_step p;
    if (config_.alternation == farma_alternation::epoch) {
      p.round = s / (2 * spp);
      const index_t w = s % (2 * spp);
      p.phase = w < spp ? 1 : 2;
      p.batch = w % spp;
      p.pass = p.round;
      return p;
    }
    const index_t c = config_.l2_every + 1, n2 = l2_steps(n);
    index_t l1_index = -1;
    if (s < n2 * c) {
      const index_t cycle = s / c, pos = s % c;
      if (pos == config_.l2_every) {
        p.phase = 2;
        p.pass = cycle / spp;
        p.batch = cycle % spp;
        p.round = p.pass;
        return p;
      }
      l1_index = cycle * config_.l2_every + pos;
    } else {
      l1_index = n2 * config_.l2_every + (s - n2 * c);
    }
    p.phase = 1;
    p.pass = l1_index / spp;
    p.batch = l1_index % spp;
    p.round = p.pass;
    return p;
  }

  /// Trains `model` on `records` (preference or ranking records; L2 uses each record's first,
  /// best response) from the loop's current step to planned_steps(records.size()); `eval(model)
  /// -> json` runs every eval_every steps and after the last (e.g. to_json(evaluate_farma(...))).
  /// @throws rlhf::invalid_argument for an empty dataset, a bad record (named, 1-based), a
  ///         max_length or pad id the model cannot take, or data other than the checkpoint's
  template <std::ranges::random_access_range Records, class EvalFn = no_evaluation>
    requires reward_record<std::ranges::range_value_t<Records>>
  loop_result train(Model& model, const Records& records, EvalFn&& eval = {}) {
    const auto groups = prepare(model, records);
    const auto n = static_cast<index_t>(groups.size());
    data_.check_resumed(n);
    const index_t max_len = max_length(model), per_step = data_.schedule().records_per_step();
    data_.loop().set_trainer_state([this, n](index_t s) {
      const auto p = plan(std::min(s, planned_steps(n) - 1), n);
      return nlohmann::json{{"records", n}, {"phase", p.phase}, {"round", p.round}, {"alternation", to_string(config_.alternation)}};
    });
    std::vector<std::size_t> order;
    std::pair<int, index_t> order_of{0, -1};
    const auto step = [&](Model& m, index_t s) {
      const auto p = plan(s, n);
      if (order_of != std::pair<int, index_t>{p.phase, p.pass}) {
        order = order_for(static_cast<std::size_t>(n), p.phase, p.pass);
        order_of = {p.phase, p.pass};
      }
      const index_t first = p.batch * per_step, last = std::min(n, first + per_step);
      const auto idx = data_.shard(std::span<const std::size_t>(order).subspan(static_cast<std::size_t>(first),
                                                                                static_cast<std::size_t>(last - first)));
      step_output out = p.phase == 1 ? l1_batch(m, groups, idx, max_len) : l2_batch(m, groups, idx, max_len);
      out.metrics["phase"] = p.phase;
      out.metrics["round"] = p.round;
      return out;
    };
    return data_.loop().run(model, planned_steps(n), step, std::forward<EvalFn>(eval));
  }

  /// One L1 (phase 1) or L2 (phase 2) optimizer batch over all `records`, in order, accumulating
  /// (+=) its gradient into the model (gradients are NOT zeroed first): what one step of train()
  /// does on its records. For tests and custom loops.
  template <std::ranges::random_access_range Records>
    requires reward_record<std::ranges::range_value_t<Records>>
  step_output accumulate(Model& model, const Records& records, int phase) const {
    RLHF_EXPECTS(phase == 1 || phase == 2, "farma: accumulate: phase must be 1 (L1) or 2 (L2), got ", phase);
    const auto groups = prepare(model, records);
    std::vector<std::size_t> order(groups.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    const index_t max_len = max_length(model);
    return phase == 1 ? l1_batch(model, groups, order, max_len) : l2_batch(model, groups, order, max_len);
  }

  /// Restores a checkpoint of this trainer; the next train() on the same data continues it.
  nlohmann::json resume(Model& model, const std::filesystem::path& checkpoint) { return data_.resume(model, checkpoint); }

 private:
  static loop_options token_head(loop_options o) {
    if (o.head == head_kind::lm) o.head = head_kind::token;  // a token reward model is never an LM
    return o;
  }

  template <class Records>
  std::vector<detail::reward_group> prepare(const Model& model, const Records& records) const {
    RLHF_EXPECTS(std::ranges::size(records) > 0, "farma: the dataset is empty");
    return detail::reward_groups(records, static_cast<index_t>(model.vocab_size()), max_length(model), "farma");
  }

  /// File order, or a seeded shuffle per pass (dataset_loop::order_for); L1 and L2 passes draw
  /// from different streams (2 pass + phase - 1).
  std::vector<std::size_t> order_for(std::size_t n, int phase, index_t pass) const {
    return data_.order_for(n, static_cast<std::uint64_t>(pass) * 2 + static_cast<std::uint64_t>(phase - 1));
  }

  /// Micro-batches of batch_size records of idx.
  std::vector<std::span<const std::size_t>> micro(std::span<const std::size_t> idx) const {
    std::vector<std::span<const std::size_t>> out;
    const auto bs = static_cast<std::size_t>(config_.l1.batch_size);
    for (std::size_t i = 0; i < idx.size(); i += bs) out.push_back(idx.subspan(i, std::min(idx.size() - i, bs)));
    return out;
  }

  /// L1: the reward objective on the sequence rewards at the last token, normalised by the pairs.
  step_output l1_batch(Model& m, std::span<const detail::reward_group> groups, std::span<const std::size_t> idx,
                       index_t max_len) const {
    const data::collate_options opt{.pad_id = config_.l1.pad_id, .max_length = max_len};
    index_t pairs = 0;
    for (const std::size_t gi : idx) pairs += static_cast<index_t>(groups[gi].pairs.size());
    const double global_pairs = data_.global_count(pairs);  // the normaliser over every process
    step_output out;
    out.tokens = pairs;
    detail::pair_sums sums;
    for (const auto part : micro(idx)) {
      const auto batch = detail::collate_groups(groups, part, opt);
      out.processed_tokens += static_cast<index_t>(xt::sum(batch.lengths)());
      auto r = m.forward_picked(batch);
      using T = typename decltype(r.picked)::value_type;
      const auto rewards = detail::last_picked(batch, r.picked);
      std::vector<double> d(rewards.size(), 0.0);
      detail::add_pairs(groups, part, rewards, objective_, d, sums);
      xt::xtensor<T, 1> d_r = xt::zeros<T>({d.size()});
      for (std::size_t i = 0; i < d.size(); ++i) d_r(i) = static_cast<T>(d[i] / global_pairs);
      const xt::xtensor<T, 2> d_max = xt::zeros<T>(r.max.shape());
      m.backward_picked(last_token_gradient(batch, d_r), d_max);
    }
    const auto mean = sums.mean();
    out.loss = sums.loss / global_pairs;  // this process's share of the batch's mean
    out.metrics["l1"] = mean.loss;
    out.metrics["accuracy"] = mean.accuracy;
    out.metrics["rewards/margins"] = mean.mean_margin;
    return out;
  }

  /// L2: the max-consistency loss over every response position of the chosen responses,
  /// normalised by the positions of the whole optimizer batch.
  step_output l2_batch(Model& m, std::span<const detail::reward_group> groups, std::span<const std::size_t> idx,
                       index_t max_len) const {
    const data::collate_options opt{.pad_id = config_.l1.pad_id, .max_length = max_len};
    std::vector<token_batch> batches;
    index_t positions = 0;
    for (const auto part : micro(idx)) {
      batches.push_back(detail::collate_chosen(groups, part, opt));
      positions += data::response_view(batches.back()).total();
    }
    const double global_positions = data_.global_count(positions);  // the normaliser over every process
    RLHF_EXPECTS(global_positions > 0, "farma: an L2 batch has no response token (every chosen response was "
                 "truncated away); raise --max-length");
    step_output out;
    out.tokens = positions;
    const max_consistency_options mopt{.stop_gradient_max = config_.stop_gradient_max};
    const double scale = config_.l2_weight / global_positions;
    detail::l2_sums total;
    for (const auto& batch : batches) {
      out.processed_tokens += static_cast<index_t>(xt::sum(batch.lengths)());
      auto r = m.forward_picked(batch);
      using T = typename decltype(r.picked)::value_type;
      xt::xtensor<T, 2> d_picked = xt::zeros<T>(r.picked.shape()), d_max = xt::zeros<T>(r.max.shape());
      // max_consistency_loss's gradients are of its own mean over `count`; scale turns them into
      // the gradients of the whole batch's weighted mean.
      const auto s = detail::add_consistency<T>(batch, r, mopt, scale, &d_picked, &d_max);
      total.half_squares += s.half_squares;
      total.abs += s.abs;
      total.count += s.count;
      m.backward_picked(d_picked, d_max);
    }
    const double local = positions > 0 ? static_cast<double>(positions) : 1.0;
    const double l2 = total.half_squares / local;
    out.loss = config_.l2_weight * total.half_squares / global_positions;  // this process's share
    out.metrics["l2"] = l2;
    out.metrics["consistency_error"] = total.abs / local;
    return out;
  }

  farma_config config_;
  reward_objective objective_;
  dataset_loop<Model> data_;
};

}  // namespace rlhf::train
