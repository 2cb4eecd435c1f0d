// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The DPO family (Rafailov et al. 2023, "Direct Preference Optimization"; ALGORITHMS.md §4): the
/// KL-regularised optimum π* = π_ref exp(r/β) / Z turned around, r = β log π*/π_ref + β log Z,
/// puts the reward model inside the policy, and Bradley–Terry on that implicit reward is a loss on
/// the policy alone. The trainer composes the three policies of the method:
///   dpo_trainer<Policy, PreferenceLoss, Divergence>
/// with PreferenceLoss one of loss::{sigmoid (DPO), hinge (SLiC), ipo, conservative (cDPO),
/// robust} and Divergence one of divergences::{reverse_kl (DPO), forward_kl, js, alpha}
/// (f-DPO, Wang et al. 2023), each a template parameter — or any_preference_loss /
/// any_divergence for a choice made at run time (the `rlhf dpo` program).
///
/// For one comparison a_w ≻ a_l of a prompt, with Δ = log π(a|s) - log π_ref(a|s) summed over the
/// response tokens (or their mean with length_normalised), h = β (f′(e^{Δ_w}) - f′(e^{Δ_l})) and
/// the loss is L(h) (objective/dpo_loss.hpp: dpo_pair). A record is a preference pair or a k-wise
/// ranking whose non-tied pairs are all compared (ties and validation as the reward trainer's:
/// train/reward.hpp), every response of a record in one forward pass; the loss of an optimizer
/// batch is the mean over its comparisons (CLI.md), so k = 2 is exactly the pairwise loss and
/// gradient accumulation gives the big-batch gradient. A record with a `probability` member
/// (P(chosen ≻ rejected), a soft label) contributes p L(h) + (1 - p) L(-h): with p = σ(r_w - r_l)
/// the minimiser is the closed form itself, which the bandit oracle checks.
///
/// The reference π_ref: a language model evaluated on the fly through its inference path (no
/// activations kept), log-probs precomputed once (compute_reference_log_probs, or the arrays of
/// `rlhf logprobs`, so the reference model need not stay in memory), or none (reference_free:
/// log π_ref = 0, the "reference-free" DPO of TRL).
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <ranges>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/data/response_view.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/model/compatibility.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/objective/dpo_loss.hpp"
#include "rlhf/objective/parse.hpp"
#include "rlhf/train/accumulation.hpp"
#include "rlhf/train/dataset_loop.hpp"
#include "rlhf/train/optimizer_config.hpp"
#include "rlhf/train/policy_model.hpp"
#include "rlhf/train/reward.hpp"
#include "rlhf/train/training_loop.hpp"

namespace rlhf::train {

/// A preference record with a soft label: `probability` = P(chosen ≻ rejected) in [0, 1].
template <class R>
concept has_preference_probability = requires(const R& r) {
  { r.probability } -> std::convertible_to<double>;
};

/// DPO settings (CLI.md `rlhf dpo`); the optimizer's are shared by every trainer. The loss and
/// the divergence are the trainer's template parameters (or run-time variants).
struct dpo_config {
  optimizer_config optimizer{};  ///< --optimizer, --lr, schedule, clipping, accumulation
  index_t steps = 0;             ///< optimizer steps; 0 = run `epochs` epochs
  index_t epochs = 1;            ///< passes over the data when steps = 0
  index_t batch_size = 8;        ///< records per micro-batch (× grad_accum per step)
  std::uint64_t seed = 0;        ///< shuffling
  bool shuffle = false;          ///< false = file order (CLI.md)
  index_t max_length = 0;        ///< longest sequence; 0 = the policy's max_positions()
  token_id pad_id = 0;           ///< padding token (never scored)
  double beta = 0.1;             ///< --beta β > 0: the strength of the divergence (TRL's default 0.1)
  bool reference_free = false;   ///< log π_ref = 0 (no reference model)
  bool length_normalised = false;  ///< Δ = mean per response token instead of the sum

  /// @throws rlhf::invalid_argument naming the option and its allowed range
  void validate() const {
    optimizer.validate("dpo");  // steps, epochs and batch_size: dataset_loop
    RLHF_EXPECTS(max_length == 0 || max_length >= 2, "dpo: --max-length must be 0 (the model's) or >= 2 (got ",
                 max_length, ")");
    RLHF_EXPECTS(pad_id >= 0, "dpo: pad id must be >= 0 (got ", pad_id, ")");
    RLHF_EXPECTS(std::isfinite(beta) && beta > 0, "dpo: --beta must be > 0 (got ", beta,
                 "); it weighs the divergence to the reference, TRL's default is 0.1");
  }
};

/// DPO metrics over some comparisons, with TRL's names in to_json.
struct dpo_metrics {
  double loss = 0.0;
  double chosen = 0.0;          ///< mean implicit reward β Δ(a_w)   ("rewards/chosen")
  double rejected = 0.0;        ///< mean β Δ(a_l)                    ("rewards/rejected")
  double accuracy = 0.0;        ///< fraction with β Δ(a_w) > β Δ(a_l) ("rewards/accuracies")
  double margin = 0.0;          ///< mean β (Δ(a_w) - Δ(a_l))          ("rewards/margins")
  double logps_chosen = 0.0;    ///< mean log π(a_w)                   ("logps/chosen")
  double logps_rejected = 0.0;  ///< mean log π(a_l)                   ("logps/rejected")
  index_t pairs = 0;
};

inline nlohmann::json to_json(const dpo_metrics& m) {
  return {{"loss", m.loss},
          {"rewards/chosen", m.chosen},
          {"rewards/rejected", m.rejected},
          {"rewards/accuracies", m.accuracy},
          {"rewards/margins", m.margin},
          {"logps/chosen", m.logps_chosen},
          {"logps/rejected", m.logps_rejected},
          {"pairs", m.pairs}};
}

/// Reference log-probabilities computed once: `sums[r][i]` = log π_ref(response i of record r | its
/// prompt) (summed, or the per-token mean when the trainer is length-normalised), over `tokens[r][i]`
/// response tokens (what the trainer's collation keeps, checked against it).
struct reference_log_probs {
  std::vector<std::vector<double>> sums;
  std::vector<std::vector<index_t>> tokens;
};

namespace detail {

/// Running sums of DPO comparisons.
struct dpo_sums {
  double loss = 0.0, chosen = 0.0, rejected = 0.0, correct = 0.0, logp_w = 0.0, logp_l = 0.0;
  index_t pairs = 0;
  dpo_metrics mean() const {
    const double inv = pairs > 0 ? 1.0 / static_cast<double>(pairs) : 0.0;
    return {loss * inv,       chosen * inv, rejected * inv, correct * inv, (chosen - rejected) * inv,
            logp_w * inv,     logp_l * inv, pairs};
  }
};

/// The soft labels of the records (1 for records without a `probability`), checked.
template <class Records>
std::vector<double> preference_probabilities(const Records& records, std::string_view who) {
  std::vector<double> p;
  index_t n = 0;
  for (const auto& r : records) {
    ++n;
    if constexpr (has_preference_probability<std::remove_cvref_t<decltype(r)>>) {
      const double q = static_cast<double>(r.probability);
      RLHF_EXPECTS(q >= 0.0 && q <= 1.0, who, ": record ", n, ": probability ", q,
                   " is not a probability; P(chosen > rejected) must lie in [0, 1]");
      p.push_back(q);
    } else {
      p.push_back(1.0);
    }
  }
  return p;
}

/// Adds the comparisons of groups[idx...] (rows consecutive) to `sums` and, when d_rows is not
/// empty, ∂(Σ loss)/∂ log π(row) to it.
template <class Loss, class Div>
void add_dpo_pairs(std::span<const reward_group> groups, std::span<const double> probabilities,
                   std::span<const std::size_t> idx, std::span<const double> policy, std::span<const double> reference,
                   double beta, const Loss& loss, const Div& div, std::span<double> d_rows, dpo_sums& sums) {
  visit_policy(loss, [&](const auto& fn) {
    visit_policy(div, [&](const auto& f) {
      std::size_t row = 0;
      for (std::size_t gi : idx) {
        for (const auto& [i, j] : groups[gi].pairs) {
          const std::size_t a = row + static_cast<std::size_t>(i), b = row + static_cast<std::size_t>(j);
          const double dw = policy[a] - reference[a], dl = policy[b] - reference[b];
          const dpo_pair_term t = dpo_pair(dw, dl, beta, fn, f, probabilities[gi]);
          sums.loss += t.value;
          sums.chosen += beta * dw;
          sums.rejected += beta * dl;
          sums.correct += dw > dl ? 1.0 : 0.0;
          sums.logp_w += policy[a];
          sums.logp_l += policy[b];
          ++sums.pairs;
          if (!d_rows.empty()) {
            d_rows[a] += t.d_better;
            d_rows[b] += t.d_worse;
          }
        }
        row += groups[gi].responses.size();
      }
    });
  });
}

}  // namespace detail

/// log π_ref of every response of every record, computed once through the reference's inference
/// path (batch_size records per forward pass, truncated to max_length; 0 = the model's positions),
/// for dpo_trainer::train with precomputed reference log-probs.
/// @throws rlhf::invalid_argument for a bad record (named, 1-based) or batch_size < 1
template <language_model Ref, std::ranges::random_access_range Records>
  requires reward_record<std::ranges::range_value_t<Records>>
reference_log_probs compute_reference_log_probs(Ref& reference, const Records& records, index_t batch_size,
                                                index_t max_length = 0, token_id pad_id = 0,
                                                bool length_normalised = false) {
  RLHF_EXPECTS(batch_size >= 1, "compute_reference_log_probs: batch_size must be >= 1 (got ", batch_size, ")");
  if (max_length == 0) max_length = static_cast<index_t>(reference.max_positions());
  const auto groups = detail::reward_groups(records, static_cast<index_t>(reference.vocab_size()), max_length,
                                            "compute_reference_log_probs");
  reference_log_probs out;
  for (std::size_t g = 0; g < groups.size(); g += static_cast<std::size_t>(batch_size)) {
    std::vector<std::size_t> idx(std::min(groups.size() - g, static_cast<std::size_t>(batch_size)));
    std::iota(idx.begin(), idx.end(), g);
    const auto batch = detail::collate_groups(groups, idx, {.pad_id = pad_id, .max_length = max_length});
    const data::response_view view(batch);
    const auto sums = view.sums(reference.score(batch), length_normalised);
    index_t row = 0;
    for (std::size_t gi : idx) {
      auto& s = out.sums.emplace_back();
      auto& t = out.tokens.emplace_back();
      for (std::size_t i = 0; i < groups[gi].responses.size(); ++i, ++row) {
        s.push_back(sums(static_cast<std::size_t>(row)));
        t.push_back(view.length(row));
      }
    }
  }
  return out;
}

/// The DPO-family trainer (file comment) on the shared training loop (dataset_loop.hpp). The
/// trainer never holds the models: train() and resume() take them.
/// Step metrics (TRL's names): rewards/chosen, rewards/rejected, rewards/accuracies,
/// rewards/margins, logps/chosen, logps/rejected, epoch.
/// @tparam Policy a `policy_model` (tabular_lm, transformer<Backend, lm_head>)
/// @tparam Loss   a rlhf::preference_loss, or any_preference_loss (run-time choice)
/// @tparam Div    a rlhf::divergence, or any_divergence (run-time choice)
template <policy_model Policy, class Loss = ::rlhf::loss::sigmoid, class Div = divergences::reverse_kl>
  requires(preference_loss<Loss> || std::same_as<Loss, any_preference_loss>) &&
          (divergence<Div> || std::same_as<Div, any_divergence>)
class dpo_trainer {
 public:
  using loop_type = training_loop<Policy>;

  /// @throws rlhf::invalid_argument for a config or an option outside its range
  explicit dpo_trainer(const dpo_config& cfg, Loss loss = Loss(), Div div = Div(), loop_options options = {})
      : config_((cfg.validate(), cfg)), loss_(std::move(loss)), div_(std::move(div)),
        data_("dpo", {cfg.steps, cfg.epochs, cfg.batch_size, cfg.optimizer.grad_accum, cfg.seed, cfg.shuffle},
              cfg.optimizer, std::move(options)) {}

  const dpo_config& config() const noexcept { return config_; }
  const Loss& loss() const noexcept { return loss_; }
  const Div& divergence() const noexcept { return div_; }
  loop_type& loop() noexcept { return data_.loop(); }

  /// Optimizer steps train() runs on n records.
  index_t planned_steps(index_t n_records) const { return data_.schedule().planned_steps(n_records); }
  /// The longest sequence train() collates for `policy`.
  index_t max_length(const Policy& policy) const {
    return data_.max_length(policy, config_.max_length, config_.pad_id);
  }

  /// Trains `policy` against a reference language model evaluated on the fly (inference path).
  /// @throws rlhf::invalid_argument for an empty dataset, a bad record (named, 1-based), a
  ///         reference of another vocabulary, or data other than the checkpoint's
  template <language_model Ref, std::ranges::random_access_range Records, class EvalFn = no_evaluation>
    requires reward_record<std::ranges::range_value_t<Records>> && (!std::same_as<std::remove_cvref_t<Ref>, reference_log_probs>)
  loop_result train(Policy& policy, const Records& records, Ref& reference, EvalFn&& eval = {}) {
    expect_same_vocabulary(policy, "policy", reference, "reference model");
    return run(policy, records, model_reference(reference), std::forward<EvalFn>(eval));
  }

  /// Trains `policy` against reference log-probs computed beforehand (compute_reference_log_probs
  /// or `rlhf logprobs`).
  /// @throws rlhf::invalid_argument also when `reference` does not match the records (count,
  ///         responses per record, response lengths)
  template <std::ranges::random_access_range Records, class EvalFn = no_evaluation>
    requires reward_record<std::ranges::range_value_t<Records>>
  loop_result train(Policy& policy, const Records& records, const reference_log_probs& reference, EvalFn&& eval = {}) {
    return run(policy, records, precomputed_reference(reference, config_.length_normalised), std::forward<EvalFn>(eval));
  }

  /// Trains reference-free (config().reference_free must be set: log π_ref = 0).
  template <std::ranges::random_access_range Records, class EvalFn = no_evaluation>
    requires reward_record<std::ranges::range_value_t<Records>> && (!language_model<std::remove_cvref_t<EvalFn>>)
  loop_result train(Policy& policy, const Records& records, EvalFn&& eval = {}) {
    RLHF_EXPECTS(config_.reference_free, "dpo: no reference given; pass a reference model or precomputed "
                 "reference log-probs, or set reference_free");
    return run(policy, records, no_reference{}, std::forward<EvalFn>(eval));
  }

  /// The loss of all `records`, in order, as ONE optimizer batch, accumulating (+=) its gradient
  /// into the policy (not zeroed first); `reference` as for train (a model, precomputed log-probs,
  /// or omitted when reference-free). For tests and custom loops.
  template <std::ranges::random_access_range Records, class... Ref>
    requires reward_record<std::ranges::range_value_t<Records>> && (sizeof...(Ref) <= 1)
  step_output accumulate(Policy& policy, const Records& records, Ref&... reference) {
    const auto ref = reference_for(reference...);
    const auto groups = prepare(policy, records, ref);
    const auto probs = detail::preference_probabilities(records, "dpo");
    std::vector<std::size_t> order(groups.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    return run_batch(policy, groups, probs, order, max_length(policy), ref);
  }

  /// Held-out metrics of `records` (in order, batch_size records per forward pass) through the
  /// policy's inference path; `reference` as for accumulate.
  template <std::ranges::random_access_range Records, class... Ref>
    requires reward_record<std::ranges::range_value_t<Records>> && (sizeof...(Ref) <= 1)
  dpo_metrics evaluate(Policy& policy, const Records& records, Ref&... reference) const {
    const auto ref = reference_for(reference...);
    const auto groups = prepare(policy, records, ref);
    const auto probs = detail::preference_probabilities(records, "dpo");
    const index_t max_len = max_length(policy);
    detail::dpo_sums sums;
    for (std::size_t i = 0; i < groups.size(); i += static_cast<std::size_t>(config_.batch_size)) {
      std::vector<std::size_t> idx(std::min(groups.size() - i, static_cast<std::size_t>(config_.batch_size)));
      std::iota(idx.begin(), idx.end(), i);
      const auto batch = detail::collate_groups(groups, idx, {.pad_id = config_.pad_id, .max_length = max_len});
      const data::response_view view(batch);
      const auto pol = view.sums(policy.score(batch), config_.length_normalised);
      const auto refs = ref(batch, view, groups, idx);
      detail::add_dpo_pairs(groups, probs, idx, std::span<const double>(pol.data(), pol.size()), refs, config_.beta,
                            loss_, div_, {}, sums);
    }
    return sums.mean();
  }

  /// Restores a checkpoint of this trainer (training_loop::resume).
  nlohmann::json resume(Policy& policy, const std::filesystem::path& checkpoint) {
    return data_.resume(policy, checkpoint);
  }

 private:
  // A reference source maps (micro-batch, its view, groups, group indices) to log π_ref per row.
  struct no_reference {
    std::vector<double> operator()(const token_batch& b, const data::response_view&, std::span<const detail::reward_group>,
                                   std::span<const std::size_t>) const {
      return std::vector<double>(static_cast<std::size_t>(b.rows()), 0.0);
    }
    void check(std::span<const detail::reward_group>, index_t) const {}
  };
  template <class Ref>
  struct model_reference_t {
    Ref* model;
    bool length_normalised;
    std::vector<double> operator()(const token_batch& b, const data::response_view& view,
                                   std::span<const detail::reward_group>, std::span<const std::size_t>) const {
      const auto s = view.sums(model->score(b), length_normalised);
      return {s.begin(), s.end()};
    }
    void check(std::span<const detail::reward_group>, index_t) const {}
  };
  template <class Ref>
  model_reference_t<Ref> model_reference(Ref& r) const { return {&r, config_.length_normalised}; }

  struct precomputed_reference {
    const reference_log_probs* ref;
    bool length_normalised;
    precomputed_reference(const reference_log_probs& r, bool ln) : ref(&r), length_normalised(ln) {}
    std::vector<double> operator()(const token_batch&, const data::response_view& view,
                                   std::span<const detail::reward_group> groups, std::span<const std::size_t> idx) const {
      std::vector<double> out;
      index_t row = 0;
      for (std::size_t gi : idx)
        for (std::size_t i = 0; i < groups[gi].responses.size(); ++i, ++row) {
          RLHF_EXPECTS(ref->tokens[gi][i] == view.length(row), "dpo: record ", gi + 1, ", response ", i,
                       ": the reference log-probs cover ", ref->tokens[gi][i], " tokens but the response has ",
                       view.length(row), " after truncation; recompute them with the same --max-length and data");
          out.push_back(ref->sums[gi][i]);
        }
      return out;
    }
    /// Record count, responses per record and lengths after truncation to max_len.
    void check(std::span<const detail::reward_group> groups, index_t max_len) const {
      RLHF_EXPECTS(ref->sums.size() == groups.size() && ref->tokens.size() == groups.size(), "dpo: the reference "
                   "log-probs hold ", ref->sums.size(), " records but the data has ", groups.size(),
                   "; compute them from the same data file");
      for (std::size_t g = 0; g < groups.size(); ++g) {
        RLHF_EXPECTS(ref->sums[g].size() == groups[g].responses.size() && ref->tokens[g].size() == groups[g].responses.size(),
                     "dpo: record ", g + 1, ": the reference log-probs give ", ref->sums[g].size(),
                     " responses but the record has ", groups[g].responses.size());
        for (std::size_t i = 0; i < groups[g].responses.size(); ++i) {
          const auto kept = std::min<index_t>(static_cast<index_t>(groups[g].responses[i].size()), max_len - 1);
          RLHF_EXPECTS(ref->tokens[g][i] == kept, "dpo: record ", g + 1, ", response ", i,
                       ": the reference log-probs cover ", ref->tokens[g][i], " tokens but the response has ", kept,
                       " (after truncation to --max-length ", max_len, "); compute them from the same data");
          RLHF_EXPECTS(std::isfinite(ref->sums[g][i]), "dpo: record ", g + 1, ", response ", i,
                       ": the reference log-prob ", ref->sums[g][i], " is not finite");
        }
      }
    }
  };

  auto reference_for() const {
    RLHF_EXPECTS(config_.reference_free, "dpo: no reference given; pass a reference model or precomputed "
                 "reference log-probs, or set reference_free");
    return no_reference{};
  }
  auto reference_for(const reference_log_probs& r) const { return precomputed_reference(r, config_.length_normalised); }
  template <language_model Ref>
  auto reference_for(Ref& r) const { return model_reference(r); }

  template <class Records, class RefFn>
  std::vector<detail::reward_group> prepare(const Policy& policy, const Records& records, const RefFn& ref) const {
    RLHF_EXPECTS(std::ranges::size(records) > 0, "dpo: the dataset is empty");
    const index_t max_len = max_length(policy);
    auto groups = detail::reward_groups(records, static_cast<index_t>(policy.vocab_size()), max_len, "dpo");
    ref.check(groups, max_len);
    return groups;
  }

  template <class Records, class RefFn, class EvalFn>
  loop_result run(Policy& policy, const Records& records, RefFn ref, EvalFn&& eval) {
    const auto groups = prepare(policy, records, ref);
    const auto probs = detail::preference_probabilities(records, "dpo");
    const index_t max_len = max_length(policy);
    const auto step = [&](Policy& m, std::span<const std::size_t> idx, index_t) {
      return run_batch(m, groups, probs, idx, max_len, ref);
    };
    return data_.run(policy, static_cast<index_t>(groups.size()), step, std::forward<EvalFn>(eval));
  }

  /// Forward + backward of groups[idx...] as one optimizer batch, normalised by its comparisons.
  template <class RefFn>
  step_output run_batch(Policy& m, std::span<const detail::reward_group> groups, std::span<const double> probs,
                        std::span<const std::size_t> idx, index_t max_len, const RefFn& ref) const {
    const auto split = detail::split_comparisons(groups, idx, config_.batch_size,
                                                 {.pad_id = config_.pad_id, .max_length = max_len});
    const auto& micro_idx = split.idx;
    const index_t pairs = split.pairs;
    step_output out;
    out.tokens = pairs;
    out.processed_tokens = split.tokens;
    detail::dpo_sums sums;
    std::size_t k = 0;
    out.loss = accumulate_gradients(
        m, std::span<const token_batch>(split.micro), data_.global_count(pairs),
        [&](const auto& logp, const token_batch& mb, auto& d_out) {
          const data::response_view view(mb);
          const auto pol = view.sums(logp, config_.length_normalised);
          const auto refs = ref(mb, view, groups, micro_idx[k]);
          std::vector<double> d(pol.size(), 0.0);
          const double before = sums.loss;
          detail::add_dpo_pairs(groups, probs, micro_idx[k++], std::span<const double>(pol.data(), pol.size()), refs,
                                config_.beta, loss_, div_, d, sums);
          view.scatter_sums_add(d_out, d, config_.length_normalised);
          return sums.loss - before;
        });
    const auto mean = sums.mean();
    out.metrics["rewards/chosen"] = mean.chosen;
    out.metrics["rewards/rejected"] = mean.rejected;
    out.metrics["rewards/accuracies"] = mean.accuracy;
    out.metrics["rewards/margins"] = mean.margin;
    out.metrics["logps/chosen"] = mean.logps_chosen;
    out.metrics["logps/rejected"] = mean.logps_rejected;
    return out;
  }

  dpo_config config_;
  Loss loss_;
  Div div_;
  dataset_loop<Policy> data_;
};

/// The composition as DESIGN.md spells it: rlhf::train::dpo<Policy, loss::ipo, divergences::js>.
template <policy_model Policy, class Loss = ::rlhf::loss::sigmoid, class Div = divergences::reverse_kl>
using dpo = dpo_trainer<Policy, Loss, Div>;

}  // namespace rlhf::train
