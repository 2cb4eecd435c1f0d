// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Sequence reward models, step 2 of the RLHF recipe (Ouyang et al. 2022, §3.5; Stiennon et al.
/// 2020; ALGORITHMS.md §2): a value model (backbone + scalar head) read at the last non-padding
/// token of s ⊕ a is fitted to human comparisons with a Bradley–Terry preference loss.
///
/// Data: preference pairs (prompt, chosen ≻ rejected) or k-wise rankings (k >= 2 responses best
/// first, optional ties). A pair is the ranking of k = 2, and both go through one code path: the
/// k responses of a prompt are consecutive rows of ONE forward pass (as data::collate_rankings
/// lays them out), and every ordered pair (i, j), i < j, that is not tied is one comparison
/// i ≻ j. For a comparison with rewards r₊ = r(s, a_i), r₋ = r(s, a_j):
///   ℓ = L(r₊ - r₋ - m - m_rec) + λ (r₊ + r₋)²
/// with L the preference loss chosen at run time (sigmoid = -log σ, hinge, ipo, conservative,
/// robust; objective/), m the global margin (Llama 2, --margin), m_rec the record's own margin
/// (a `margin` member of the record type, TRL's margin column), and λ the reward-centring
/// coefficient (Eisenstein et al. 2023; TRL's center_rewards_coefficient, --center). The loss of
/// an optimizer batch is the mean over ITS comparisons (CLI.md: "reward losses are means over the
/// pairs of a batch"):
///   L = 1/|P| Σ_{(i,j) ∈ P} ℓ_ij,   P = the comparisons of every record of the batch,
/// so a ranking weighs by its number of comparisons, k = 2 is exactly the pairwise loss, and with
/// gradient accumulation |P| counts the comparisons of the whole optimizer batch (accumulation.hpp)
/// so n micro-batches give the big-batch gradient.
///
/// Ties: tied responses form groups (the transitive closure of the listed ties: A = B and B = C
/// tie A and C); no comparison is taken inside a group. In a best-first ranking tied responses are
/// adjacent, so a group that skips a response ranked between its members contradicts the order and
/// is refused.
///
/// Prefix reward models (PARGS: Rashid et al. 2024, "A critical look at inference-time alignment
/// / guided decoding with reward models trained on partial sequences"; ALGORITHMS.md §5): with
/// reward_config::prefix the same trainer sees every record's responses truncated to ONE common
/// random length ℓ ~ U{1, …, min_k |a_k|} (same label), so the model learns to score partial
/// responses r(s, a^{≤ℓ}) — what ARGS-style decoding asks of it at every token. ℓ is drawn when a
/// step's records are collated, from counter_rng(seed, rng_stream(prefix, record)) at counter =
/// epoch (prefix_length): a function of (seed, record, epoch) only, so it does not depend on the
/// batch size, and a resumed run truncates exactly as an uninterrupted one. evaluate_prefix_reward
/// reports the accuracy with every response cut to ceil(f·|a|), f = 25, 50, 75, 100 %.
/// Responses that share their first ℓ tokens give equal prefixes: such a comparison has r₊ = r₋,
/// adds L(−m) and no gradient, and still counts in the normaliser (and as a miss in the accuracy).
#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/core/rng.hpp"
#include "rlhf/data/batching.hpp"
#include "rlhf/data/collate.hpp"
#include "rlhf/data/token_batch.hpp"
#include "rlhf/model/concepts.hpp"
#include "rlhf/model/heads.hpp"
#include "rlhf/model/sequence_rewards.hpp"
#include "rlhf/objective/parse.hpp"
#include "rlhf/train/accumulation.hpp"
#include "rlhf/train/dataset_loop.hpp"
#include "rlhf/train/optimizer_config.hpp"
#include "rlhf/train/training_loop.hpp"

namespace rlhf::train {

// ---- inputs ----

namespace detail {
template <class R>
concept token_range = std::ranges::contiguous_range<R> && std::same_as<std::ranges::range_value_t<R>, token_id>;
}  // namespace detail

/// A preference record: prompt_ids, chosen_ids, rejected_ids as contiguous token_id ranges
/// (data::preference_example, or any user type with those members).
template <class R>
concept preference_record = requires(const R& r) {
  requires detail::token_range<std::remove_cvref_t<decltype(r.prompt_ids)>>;
  requires detail::token_range<std::remove_cvref_t<decltype(r.chosen_ids)>>;
  requires detail::token_range<std::remove_cvref_t<decltype(r.rejected_ids)>>;
};

/// A ranking record: prompt_ids, responses_ids (k token ranges, best first) and ties (a range of
/// (i, j) index pairs, e.g. std::pair; data::ranking_example).
template <class R>
concept ranking_record = requires(const R& r) {
  requires detail::token_range<std::remove_cvref_t<decltype(r.prompt_ids)>>;
  requires std::ranges::random_access_range<std::remove_cvref_t<decltype(r.responses_ids)>>;
  requires detail::token_range<std::ranges::range_value_t<std::remove_cvref_t<decltype(r.responses_ids)>>>;
  requires std::ranges::input_range<std::remove_cvref_t<decltype(r.ties)>>;
};

/// What the reward trainer reads: a preference or a ranking record.
template <class R>
concept reward_record = preference_record<R> || ranking_record<R>;

/// A record with its own margin m_rec (TRL's per-example `margin` column), added to the global
/// margin of every comparison of the record. data::preference_example has none; a user type
/// with a `margin` member convertible to double opts in.
template <class R>
concept has_record_margin = requires(const R& r) {
  { r.margin } -> std::convertible_to<double>;
};

/// The per-comparison objective ℓ(r₊, r₋) = L(r₊ - r₋ - m - m_rec) + λ (r₊ + r₋)² (file comment).
struct reward_objective {
  any_preference_loss loss = ::rlhf::loss::sigmoid{};  ///< L, evaluated at scale β = 1 (IPO: see beta)
  double margin = 0.0;  ///< m (--margin)
  double center = 0.0;  ///< λ (--center)
  double beta = 1.0;    ///< IPO only: the reward gap is regressed to m + 1/(2β); the other losses ignore it

  /// ℓ and its derivatives for one comparison.
  struct term {
    double value = 0.0, d_better = 0.0, d_worse = 0.0;
  };
  term operator()(double r_better, double r_worse, double record_margin = 0.0) const {
    const double x = r_better - r_worse - margin - record_margin;
    double v = 0.0, g = 0.0;
    std::visit(
        [&](const auto& fn) {
          if constexpr (std::is_same_v<std::remove_cvref_t<decltype(fn)>, ::rlhf::loss::ipo>) {
            v = fn.value(beta * x, beta);  // (x - 1/(2β))²
            g = beta * fn.grad(beta * x, beta);
          } else {
            v = fn.value(x, 1.0);
            g = fn.grad(x, 1.0);
          }
        },
        loss);
    const double s = r_better + r_worse;
    return {v + center * s * s, g + 2.0 * center * s, -g + 2.0 * center * s};
  }
};

/// Reward-model settings (CLI.md `rlhf reward` options); the optimizer's are shared by every
/// trainer. Validated by the trainer's constructor (and against the model by train()).
struct reward_config {
  optimizer_config optimizer{};    ///< --optimizer, --lr, schedule, clipping, accumulation
  index_t steps = 0;               ///< optimizer steps; 0 = run `epochs` epochs
  index_t epochs = 1;              ///< passes over the data when steps = 0
  index_t batch_size = 8;          ///< records (pairs or rankings) per micro-batch (× grad_accum per step)
  std::uint64_t seed = 0;          ///< shuffling
  bool shuffle = false;            ///< false = file order (CLI.md)
  index_t max_length = 0;          ///< longest sequence; 0 = the model's max_positions()
  token_id pad_id = 0;             ///< padding token (never scored)
  std::string loss = "sigmoid";    ///< --loss sigmoid|hinge|ipo|conservative|robust
  double margin = 0.0;             ///< --margin m: L(r₊ - r₋ - m) (Llama 2)
  double center = 0.0;             ///< --center λ: + λ (r₊ + r₋)² (TRL suggests 0.01)
  double label_smoothing = 0.1;    ///< --label-smoothing ε of conservative and robust
  double beta = 1.0;               ///< --beta of ipo (gap target 1/(2β))
  bool prefix = false;             ///< --kind prefix (PARGS): train on common random prefixes (file comment)

  /// @throws rlhf::invalid_argument naming the option and its allowed range
  void validate() const {
    optimizer.validate("reward");
    // steps, epochs and batch_size are checked by dataset_loop
    RLHF_EXPECTS(max_length == 0 || max_length >= 2,
                 "reward: --max-length must be 0 (the model's) or >= 2 (got ", max_length, ")");
    RLHF_EXPECTS(pad_id >= 0, "reward: pad id must be >= 0 (got ", pad_id, ")");
    RLHF_EXPECTS(loss == "sigmoid" || loss == "hinge" || loss == "ipo" || loss == "conservative" || loss == "robust",
                 "reward: --loss must be sigmoid, hinge, ipo, conservative or robust (got '", loss, "')");
    RLHF_EXPECTS(std::isfinite(margin), "reward: --margin must be a finite number (got ", margin, ")");
    RLHF_EXPECTS(std::isfinite(center) && center >= 0, "reward: --center must be >= 0 (0 turns reward centring off; ",
                 "got ", center, ")");
    RLHF_EXPECTS(label_smoothing >= 0 && label_smoothing < 0.5,
                 "reward: --label-smoothing must be in [0, 0.5) (got ", label_smoothing, ")");
    RLHF_EXPECTS(std::isfinite(beta) && beta > 0, "reward: --beta must be > 0 (got ", beta, ")");
  }
  /// The objective these settings describe. @throws rlhf::invalid_argument as validate()
  reward_objective objective() const {
    validate();
    return {parse_preference_loss(loss, label_smoothing, 0.0), margin, center, beta};
  }
};

/// Reward-model metrics over some comparisons, TRL's names in to_json.
struct reward_metrics {
  double loss = 0.0;         ///< mean ℓ over the comparisons
  double accuracy = 0.0;     ///< fraction with r₊ > r₋ (ties of the model count as wrong)
  double mean_margin = 0.0;  ///< mean r₊ - r₋ ("rewards/margins")
  double chosen = 0.0;       ///< mean r₊ ("rewards/chosen")
  double rejected = 0.0;     ///< mean r₋ ("rewards/rejected")
  index_t pairs = 0;         ///< comparisons counted
};

/// {"loss", "accuracy", "rewards/margins", "rewards/chosen", "rewards/rejected", "pairs"}.
inline nlohmann::json to_json(const reward_metrics& m) {
  return {{"loss", m.loss},         {"accuracy", m.accuracy}, {"rewards/margins", m.mean_margin},
          {"rewards/chosen", m.chosen}, {"rewards/rejected", m.rejected}, {"pairs", m.pairs}};
}

/// The common prefix length PARGS truncates record `record` (0-based) to in epoch `epoch`:
/// 1 + ⌊u · shortest⌋ ∈ [1, shortest], u draw `epoch` of counter_rng(seed, rng_stream(prefix,
/// record)); `shortest` is the record's shortest response (>= 1).
inline index_t prefix_length(std::uint64_t seed, std::uint64_t record, std::uint64_t epoch, index_t shortest) {
  RLHF_EXPECTS(shortest >= 1, "prefix_length: the shortest response must have >= 1 token (got ", shortest, ")");
  const double u = counter_rng(seed, rng_stream(rng_purpose::prefix, record)).uniform(epoch);
  return std::min<index_t>(shortest, 1 + static_cast<index_t>(u * static_cast<double>(shortest)));
}

/// Prefix accuracy by response fraction (PARGS): the fraction of comparisons ranked as labelled
/// when every response is cut to its first ceil(f·|a|) tokens, for f in `fractions`.
struct prefix_metrics {
  static constexpr std::array<double, 4> fractions{0.25, 0.5, 0.75, 1.0};
  std::array<double, 4> accuracy{};  ///< accuracy[i] at fractions[i]
  index_t pairs = 0;                 ///< comparisons per fraction
};

/// {"prefix_accuracy/25": …, "prefix_accuracy/50": …, "prefix_accuracy/75": …, "prefix_accuracy/100": …, "pairs"}.
inline nlohmann::json to_json(const prefix_metrics& m) {
  nlohmann::json j;
  for (std::size_t i = 0; i < m.fractions.size(); ++i)
    j["prefix_accuracy/" + std::to_string(static_cast<int>(std::lround(m.fractions[i] * 100)))] = m.accuracy[i];
  j["pairs"] = m.pairs;
  return j;
}

namespace detail {

/// One record as the trainer sees it: k responses (best first) and the comparisons taken.
struct reward_group {
  std::span<const token_id> prompt;
  std::vector<std::span<const token_id>> responses;
  std::vector<std::pair<index_t, index_t>> pairs;  ///< (better, worse) indices into responses
  double margin = 0.0;                             ///< m_rec
};

template <class R>
std::span<const token_id> token_span(const R& ids) {
  return {std::ranges::data(ids), static_cast<std::size_t>(std::ranges::size(ids))};
}

/// Validates `records` and builds their groups. Errors name the record (1-based) and the fix.
template <class Records>
std::vector<reward_group> reward_groups(const Records& records, index_t vocab, index_t max_len, std::string_view who) {
  std::vector<reward_group> out;
  out.reserve(static_cast<std::size_t>(std::ranges::size(records)));
  index_t n = 0;
  for (const auto& r : records) {
    ++n;
    using R = std::remove_cvref_t<decltype(r)>;
    reward_group g;
    g.prompt = token_span(r.prompt_ids);
    const auto check_ids = [&](std::span<const token_id> ids, const std::string& what) {
      for (token_id id : ids)
        RLHF_EXPECTS(id >= 0 && id < vocab, who, ": record ", n, ": ", what, " token id ", id,
                     " is outside the vocabulary [0, ", vocab, "); tokenize with this model's tokenizer");
    };
    RLHF_EXPECTS(!g.prompt.empty(), who, ": record ", n,
                 " has an empty prompt; every record needs at least one prompt token");
    RLHF_EXPECTS(static_cast<index_t>(g.prompt.size()) < max_len, who, ": record ", n, ": the prompt has ",
                 g.prompt.size(), " tokens but a sequence holds at most ", max_len,
                 " (--max-length, or the model's n_positions); a reward is read after at least one response "
                 "token, so shorten the prompt or raise --max-length");
    check_ids(g.prompt, "prompt");
    if constexpr (preference_record<R>) {
      g.responses = {token_span(r.chosen_ids), token_span(r.rejected_ids)};
      RLHF_EXPECTS(!g.responses[0].empty(), who, ": record ", n,
                   " has an empty chosen response; give chosen at least one token");
      RLHF_EXPECTS(!g.responses[1].empty(), who, ": record ", n,
                   " has an empty rejected response; give rejected at least one token");
      RLHF_EXPECTS(!std::ranges::equal(g.responses[0], g.responses[1]), who, ": record ", n,
                   ": chosen and rejected are the same tokens, so the pair states no preference; drop the "
                   "record or fix its responses");
      check_ids(g.responses[0], "chosen");
      check_ids(g.responses[1], "rejected");
      g.pairs = {{0, 1}};
    } else {
      for (const auto& resp : r.responses_ids) g.responses.push_back(token_span(resp));
      const auto k = static_cast<index_t>(g.responses.size());
      RLHF_EXPECTS(k >= 2, who, ": record ", n, " ranks ", k,
                   " response(s); a ranking needs at least 2 (best first) to state a preference");
      for (index_t i = 0; i < k; ++i) {
        RLHF_EXPECTS(!g.responses[static_cast<std::size_t>(i)].empty(), who, ": record ", n, ": response ", i,
                     " is empty; give every response at least one token");
        check_ids(g.responses[static_cast<std::size_t>(i)], "response " + std::to_string(i));
      }
      // Tie groups (union-find over k responses).
      std::vector<index_t> parent(static_cast<std::size_t>(k));
      std::iota(parent.begin(), parent.end(), index_t{0});
      const auto find = [&](index_t x) {
        while (parent[static_cast<std::size_t>(x)] != x) x = parent[static_cast<std::size_t>(x)];
        return x;
      };
      std::vector<std::pair<index_t, index_t>> ties;
      for (const auto& t : r.ties) {
        const auto& [ta, tb] = t;
        const auto a = static_cast<index_t>(ta), b = static_cast<index_t>(tb);
        RLHF_EXPECTS(a >= 0 && a < k && b >= 0 && b < k, who, ": record ", n, ": tie (", a, ", ", b,
                     ") names a response the record does not have; indices are 0-based in [0, ", k, ")");
        RLHF_EXPECTS(a != b, who, ": record ", n, ": tie (", a, ", ", b,
                     ") pairs a response with itself; a tie names two different responses");
        ties.emplace_back(std::min(a, b), std::max(a, b));
        parent[static_cast<std::size_t>(find(a))] = find(b);
      }
      for (const auto& [a, b] : ties)
        for (index_t m = a + 1; m < b; ++m)
          RLHF_EXPECTS(find(m) == find(a), who, ": record ", n, ": tie (", a, ", ", b,
                       ") contradicts the ranking: response ", m,
                       " is ranked between them but not tied with them; in a best-first ranking tied responses "
                       "are adjacent, so reorder the responses or tie response ", m, " as well");
      for (index_t i = 0; i < k; ++i)
        for (index_t j = i + 1; j < k; ++j) {
          if (find(i) == find(j)) continue;
          RLHF_EXPECTS(!std::ranges::equal(g.responses[static_cast<std::size_t>(i)],
                                           g.responses[static_cast<std::size_t>(j)]),
                       who, ": record ", n, ": responses ", i, " and ", j,
                       " are the same tokens but ranked apart; tie them or drop one");
          g.pairs.emplace_back(i, j);
        }
      RLHF_EXPECTS(!g.pairs.empty(), who, ": record ", n,
                   ": every response is tied with every other, so the record states no preference; drop it");
    }
    if constexpr (has_record_margin<R>) {
      g.margin = static_cast<double>(r.margin);
      RLHF_EXPECTS(std::isfinite(g.margin), who, ": record ", n, ": margin ", g.margin, " is not finite");
    }
    out.push_back(std::move(g));
  }
  return out;
}

/// Running sums of the comparisons of a batch.
struct pair_sums {
  double loss = 0.0, chosen = 0.0, rejected = 0.0, margin = 0.0, correct = 0.0;
  index_t pairs = 0;
  reward_metrics mean() const {
    const double inv = pairs > 0 ? 1.0 / static_cast<double>(pairs) : 0.0;
    return {loss * inv, correct * inv, margin * inv, chosen * inv, rejected * inv, pairs};
  }
};

/// Adds the comparisons of groups[idx...] (rows laid out consecutively, rewards[row]) to `sums`,
/// and, when d_rewards is not empty, ∂(Σ ℓ)/∂ rewards[row] to it.
inline void add_pairs(std::span<const reward_group> groups, std::span<const std::size_t> idx,
                      std::span<const double> rewards, const reward_objective& objective, std::span<double> d_rewards,
                      pair_sums& sums) {
  std::size_t row = 0;
  for (std::size_t gi : idx) {
    const auto& g = groups[gi];
    for (const auto& [i, j] : g.pairs) {
      const std::size_t a = row + static_cast<std::size_t>(i), b = row + static_cast<std::size_t>(j);
      const double rp = rewards[a], rm = rewards[b];
      const auto t = objective(rp, rm, g.margin);
      sums.loss += t.value;
      sums.chosen += rp;
      sums.rejected += rm;
      sums.margin += rp - rm;
      sums.correct += rp > rm ? 1.0 : 0.0;
      ++sums.pairs;
      if (!d_rewards.empty()) {
        d_rewards[a] += t.d_better;
        d_rewards[b] += t.d_worse;
      }
    }
    row += g.responses.size();
  }
}

/// groups[idx...] with every record's responses cut to its common PARGS prefix of `epoch`
/// (prefix_length keyed by the record's index gi), in idx order: the groups of one step.
inline std::vector<reward_group> prefix_groups(std::span<const reward_group> groups, std::span<const std::size_t> idx,
                                               std::uint64_t seed, std::uint64_t epoch) {
  std::vector<reward_group> out;
  out.reserve(idx.size());
  for (const std::size_t gi : idx) {
    reward_group g = groups[gi];
    std::size_t shortest = g.responses.front().size();
    for (const auto& r : g.responses) shortest = std::min(shortest, r.size());
    const auto len = static_cast<std::size_t>(prefix_length(seed, gi, epoch, static_cast<index_t>(shortest)));
    for (auto& r : g.responses) r = r.first(len);
    out.push_back(std::move(g));
  }
  return out;
}

/// groups with every response cut to its first ceil(fraction · |a|) tokens (at least one).
inline std::vector<reward_group> fraction_groups(std::span<const reward_group> groups, double fraction) {
  std::vector<reward_group> out(groups.begin(), groups.end());
  for (auto& g : out)
    for (auto& r : g.responses) {
      const auto keep = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(r.size()) - 1e-9));
      r = r.first(std::clamp<std::size_t>(keep, 1, r.size()));
    }
  return out;
}

/// One micro-batch: the responses of groups[idx...] as consecutive rows (collate_rankings' layout).
inline token_batch collate_groups(std::span<const reward_group> groups, std::span<const std::size_t> idx,
                                  const data::collate_options& opt) {
  std::vector<data::sequence_pair> rows;
  for (std::size_t gi : idx)
    for (const auto& resp : groups[gi].responses) rows.push_back({groups[gi].prompt, resp});
  return data::collate(std::span<const data::sequence_pair>(rows), opt);
}

/// evaluate_reward on validated groups.
template <value_model Model>
reward_metrics evaluate_groups(Model& model, std::span<const reward_group> groups, index_t batch_size,
                               index_t max_length, const reward_objective& objective, token_id pad_id) {
  std::vector<std::size_t> order(groups.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  detail::pair_sums sums;
  for (std::size_t i = 0; i < order.size(); i += static_cast<std::size_t>(batch_size)) {
    const auto idx = std::span<const std::size_t>(order).subspan(
        i, std::min(order.size() - i, static_cast<std::size_t>(batch_size)));
    const auto batch = detail::collate_groups(groups, idx, {.pad_id = pad_id, .max_length = max_length});
    const auto r = sequence_rewards(model, batch);
    const std::vector<double> rewards(r.begin(), r.end());
    detail::add_pairs(groups, idx, rewards, objective, {}, sums);
  }
  return sums.mean();
}

/// One optimizer batch groups[idx...] split into micro-batches of batch_size records: the
/// collated batches, the group indices of each, the comparisons of the whole batch (the
/// normaliser) and the non-padding tokens run. Shared by every trainer on comparisons.
struct comparison_batches {
  std::vector<token_batch> micro;
  std::vector<std::span<const std::size_t>> idx;
  index_t pairs = 0;
  index_t tokens = 0;
};
inline comparison_batches split_comparisons(std::span<const reward_group> groups, std::span<const std::size_t> idx,
                                            index_t batch_size, const data::collate_options& opt) {
  comparison_batches out;
  for (const std::size_t gi : idx) out.pairs += static_cast<index_t>(groups[gi].pairs.size());
  const auto bs = static_cast<std::size_t>(batch_size);
  for (std::size_t i = 0; i < idx.size(); i += bs) {
    out.idx.push_back(idx.subspan(i, std::min(idx.size() - i, bs)));
    out.micro.push_back(collate_groups(groups, out.idx.back(), opt));
    out.tokens += static_cast<index_t>(xt::sum(out.micro.back().lengths)());
  }
  return out;
}

}  // namespace detail

/// Held-out reward-model metrics of `records` (in order, batch_size records per forward pass,
/// truncated to max_length tokens, 0 = the model's max_positions()) through the inference path
/// score(): no gradients, and the activations of a pending backward are left alone. The loss is
/// `objective`'s (by default the plain Bradley–Terry -log σ(r₊ - r₋)).
/// @throws rlhf::invalid_argument for a bad record (named, 1-based) or batch_size < 1
template <value_model Model, std::ranges::random_access_range Records>
  requires reward_record<std::ranges::range_value_t<Records>>
reward_metrics evaluate_reward(Model& model, const Records& records, index_t batch_size, index_t max_length,
                               const reward_objective& objective = {}, token_id pad_id = 0) {
  RLHF_EXPECTS(batch_size >= 1, "evaluate_reward: batch_size must be >= 1 (got ", batch_size, ")");
  if (max_length == 0) max_length = static_cast<index_t>(model.max_positions());
  RLHF_EXPECTS(max_length >= 2, "evaluate_reward: max_length must be 0 (the model's) or >= 2 (got ", max_length, ")");
  const auto groups = detail::reward_groups(records, static_cast<index_t>(model.vocab_size()), max_length,
                                            "evaluate_reward");
  RLHF_EXPECTS(!groups.empty(), "evaluate_reward: no records");
  return detail::evaluate_groups(model, groups, batch_size, max_length, objective, pad_id);
}

/// PARGS prefix accuracy of `records` (evaluate_reward's arguments): the accuracy with every
/// response cut to ceil(f·|a|) tokens for f = 25, 50, 75 and 100 % (prefix_metrics).
/// @throws rlhf::invalid_argument for a bad record (named, 1-based) or batch_size < 1
template <value_model Model, std::ranges::random_access_range Records>
  requires reward_record<std::ranges::range_value_t<Records>>
prefix_metrics evaluate_prefix_reward(Model& model, const Records& records, index_t batch_size, index_t max_length,
                                      token_id pad_id = 0) {
  RLHF_EXPECTS(batch_size >= 1, "evaluate_prefix_reward: batch_size must be >= 1 (got ", batch_size, ")");
  if (max_length == 0) max_length = static_cast<index_t>(model.max_positions());
  RLHF_EXPECTS(max_length >= 2, "evaluate_prefix_reward: max_length must be 0 (the model's) or >= 2 (got ", max_length,
               ")");
  const auto groups = detail::reward_groups(records, static_cast<index_t>(model.vocab_size()), max_length,
                                            "evaluate_prefix_reward");
  RLHF_EXPECTS(!groups.empty(), "evaluate_prefix_reward: no records");
  prefix_metrics out;
  for (std::size_t i = 0; i < out.fractions.size(); ++i) {
    const auto cut = detail::fraction_groups(groups, out.fractions[i]);
    const auto m = detail::evaluate_groups(model, cut, batch_size, max_length, reward_objective{}, pad_id);
    out.accuracy[i] = m.accuracy;
    out.pairs = m.pairs;
  }
  return out;
}


// ---- trainer ----

/// A model the reward trainer can train: a value model whose forward gives the values it
/// differentiates (tabular_value_model, transformer<Backend, scalar_head>).
template <class M>
concept reward_model = value_model<M> && differentiable_model<M>;

/// Sequence (and, with reward_config::prefix, PARGS prefix) reward-model trainer on the shared training loop (training_loop.hpp): the step
/// function collates the step's records (each record's responses in one forward pass) and
/// accumulates the gradient of the mean comparison loss (file comment); the loop does the rest
/// (clipping, schedule, skipped steps, progress, JSON, evaluation, checkpoints). The data order
/// of step s is a function of (seed, s), so a resumed run sees the batches an uninterrupted one
/// would. The trainer never holds the model: train() and resume() take it.
/// Step metrics (TRL's names): accuracy, rewards/margins, rewards/chosen, rewards/rejected, epoch.
/// @tparam Model a `reward_model` (tabular_value_model, transformer<Backend, scalar_head>)
template <reward_model Model>
class reward_trainer {
 public:
  using loop_type = training_loop<Model>;

  /// @throws rlhf::invalid_argument for a config or an option outside its range
  explicit reward_trainer(const reward_config& cfg, loop_options options = {})
      : config_((cfg.validate(), cfg)), objective_(cfg.objective()),
        data_("reward", {cfg.steps, cfg.epochs, cfg.batch_size, cfg.optimizer.grad_accum, cfg.seed, cfg.shuffle},
              cfg.optimizer, reward_head(std::move(options))) {}

  const reward_config& config() const noexcept { return config_; }
  const reward_objective& objective() const noexcept { return objective_; }
  loop_type& loop() noexcept { return data_.loop(); }

  /// Optimizer steps train() runs on n records.
  index_t planned_steps(index_t n_records) const { return data_.schedule().planned_steps(n_records); }
  /// The longest sequence train() collates for `model` (max_length, or the model's positions).
  /// @throws rlhf::invalid_argument when the model cannot take it or the pad id
  index_t max_length(const Model& model) const { return data_.max_length(model, config_.max_length, config_.pad_id); }

  /// Trains `model` on `records` (preference or ranking records) from the loop's current step
  /// (0, or the resumed checkpoint's) to planned_steps(records.size()); `eval(model) -> json`
  /// runs every eval_every steps and after the last (e.g. to_json(evaluate_reward(...))).
  /// @throws rlhf::invalid_argument for an empty dataset, a bad record (named, 1-based, with the
  ///         fix), a max_length or pad id the model cannot take, or data other than the checkpoint's
  template <std::ranges::random_access_range Records, class EvalFn = no_evaluation>
    requires reward_record<std::ranges::range_value_t<Records>>
  loop_result train(Model& model, const Records& records, EvalFn&& eval = {}) {
    const auto groups = prepare(model, records);
    const index_t max_len = max_length(model);
    const index_t per_epoch = data_.schedule().steps_per_epoch(static_cast<index_t>(groups.size()));
    const auto step = [&](Model& m, std::span<const std::size_t> idx, index_t s) {
      return run_batch(m, groups, idx, max_len, s / per_epoch);
    };
    return data_.run(model, static_cast<index_t>(groups.size()), step, std::forward<EvalFn>(eval));
  }

  /// The loss of all `records`, in order, as ONE optimizer batch (micro-batches of batch_size
  /// records), accumulating (+=) its gradient into the model: what one step of train() does on
  /// its records (with prefix, the PARGS prefixes of record i in epoch `epoch`). Gradients are
  /// NOT zeroed first. For tests and custom loops.
  template <std::ranges::random_access_range Records>
    requires reward_record<std::ranges::range_value_t<Records>>
  step_output accumulate(Model& model, const Records& records, index_t epoch = 0) const {
    const auto groups = prepare(model, records);
    std::vector<std::size_t> order(groups.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    return run_batch(model, groups, order, max_length(model), epoch);
  }

  /// Restores a checkpoint of this trainer (training_loop::resume); the next train() on the same
  /// data continues bit-identically.
  nlohmann::json resume(Model& model, const std::filesystem::path& checkpoint) { return data_.resume(model, checkpoint); }

 private:
  static loop_options reward_head(loop_options o) {
    if (o.head == head_kind::lm) o.head = head_kind::reward;  // a value model is never an LM
    return o;
  }

  template <class Records>
  std::vector<detail::reward_group> prepare(const Model& model, const Records& records) const {
    RLHF_EXPECTS(std::ranges::size(records) > 0, "reward: the dataset is empty");
    const index_t max_len = max_length(model);
    return detail::reward_groups(records, static_cast<index_t>(model.vocab_size()), max_len, "reward");
  }

  /// Forward + backward of groups[idx...] as one optimizer batch, normalised by its comparisons;
  /// with prefix, on the records' PARGS prefixes of `epoch`.
  step_output run_batch(Model& m, std::span<const detail::reward_group> groups, std::span<const std::size_t> idx,
                        index_t max_len, index_t epoch) const {
    std::vector<detail::reward_group> cut;
    std::vector<std::size_t> cut_idx;
    if (config_.prefix) {
      cut = detail::prefix_groups(groups, idx, config_.seed, static_cast<std::uint64_t>(epoch));
      cut_idx.resize(cut.size());
      std::iota(cut_idx.begin(), cut_idx.end(), std::size_t{0});
      groups = cut;
      idx = cut_idx;
    }
    const auto split = detail::split_comparisons(groups, idx, config_.batch_size,
                                                 {.pad_id = config_.pad_id, .max_length = max_len});
    const auto& micro_idx = split.idx;
    const index_t pairs = split.pairs;
    step_output out;
    out.tokens = pairs;
    out.processed_tokens = split.tokens;
    detail::pair_sums sums;
    std::size_t k = 0;
    out.loss = accumulate_gradients(
        m, std::span<const token_batch>(split.micro), data_.global_count(pairs),
        [&](const auto& values, const token_batch& mb, auto& d_out) {
          using T = typename std::remove_cvref_t<decltype(values)>::value_type;
          const auto r = last_token_values(mb, values);
          const std::vector<double> rewards(r.begin(), r.end());
          std::vector<double> d(rewards.size(), 0.0);
          const double before = sums.loss;
          detail::add_pairs(groups, micro_idx[k++], rewards, objective_, d, sums);
          xt::xtensor<T, 1> d_r = xt::zeros<T>({d.size()});
          for (std::size_t i = 0; i < d.size(); ++i) d_r(i) = static_cast<T>(d[i]);
          d_out = last_token_gradient(mb, d_r);
          return sums.loss - before;
        });
    const auto mean = sums.mean();
    out.metrics["accuracy"] = mean.accuracy;
    out.metrics["rewards/margins"] = mean.mean_margin;
    out.metrics["rewards/chosen"] = mean.chosen;
    out.metrics["rewards/rejected"] = mean.rejected;
    return out;
  }

  reward_config config_;
  reward_objective objective_;
  dataset_loop<Model> data_;
};

}  // namespace rlhf::train
