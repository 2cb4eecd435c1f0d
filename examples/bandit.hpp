// SPDX-License-Identifier: MIT
#pragma once
// The bandit the teaching examples share (ALGORITHMS.md §4): prompts × actions, a known reward
// r(s, a), a reference policy π_ref held by a tabular_lm, and the closed-form optimum
//     π*(a|s) = π_ref(a|s) exp(r(s,a)/β) / Z(s).
// A response is one action token after a one-token prompt s, so every trainer and decoder of the
// library runs on it unchanged, in milliseconds.
#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include <rlhf/rlhf.hpp>

namespace example {

/// A preference with its probability P(chosen ≻ rejected) (a soft label; 1 for a hard one).
struct soft_pair {
  std::vector<rlhf::token_id> prompt_ids, chosen_ids, rejected_ids;
  double probability = 1.0;
};

template <class Backend = rlhf::backend::default_backend>
struct bandit {
  using lm_t = rlhf::tabular_lm<Backend>;
  rlhf::index_t prompts = 3, actions = 6;
  std::vector<std::vector<double>> reward, ref;  // (prompts, actions): r and log π_ref

  /// Rewards uniform in [-1, 1), π_ref = softmax(0.8 · N(0, 1)), from the counter RNG of `seed`.
  static bandit make(rlhf::index_t prompts = 3, rlhf::index_t actions = 6, std::uint64_t seed = 2024) {
    bandit b{prompts, actions, {}, {}};
    const rlhf::counter_rng rng(seed, 1);
    std::uint64_t c = 0;
    b.reward.assign(prompts, std::vector<double>(actions));
    b.ref.assign(prompts, std::vector<double>(actions));
    for (rlhf::index_t s = 0; s < prompts; ++s) {
      for (rlhf::index_t a = 0; a < actions; ++a) {
        b.reward[s][a] = 2.0 * rng.uniform(c++) - 1.0;
        b.ref[s][a] = 0.8 * rng.normal(c++);
      }
      const double lse = rlhf::math::logsumexp(std::span<const double>(b.ref[s]));
      for (double& x : b.ref[s]) x -= lse;
    }
    return b;
  }

  /// A policy table of the bandit's shape (uniform until trained or set).
  lm_t make_lm() const {
    return lm_t({.vocab_size = actions, .context = rlhf::tabular_context::bandit, .n_contexts = prompts,
                 .max_positions = 4});
  }
  /// π_ref as a model.
  lm_t reference() const {
    lm_t m = make_lm();
    xt::xtensor<float, 2> table = xt::zeros<float>({std::size_t(prompts), std::size_t(actions)});
    for (rlhf::index_t s = 0; s < prompts; ++s)
      for (rlhf::index_t a = 0; a < actions; ++a) table(s, a) = static_cast<float>(ref[s][a]);
    m.set_logits_table(table);
    return m;
  }
  /// log π(·|s) of a policy, in double.
  static std::vector<double> row(const lm_t& m, rlhf::index_t s) {
    const auto t = m.logits_table();
    std::vector<double> r(static_cast<std::size_t>(t.shape(1)));
    for (std::size_t a = 0; a < r.size(); ++a) r[a] = t(s, a);
    const double lse = rlhf::math::logsumexp(std::span<const double>(r));
    for (double& x : r) x -= lse;
    return r;
  }
  /// max over prompts of KL(π(·|s) ‖ target(s)).
  template <class Target>
  double kl_to(const lm_t& m, Target&& target) const {
    double worst = 0.0;
    for (rlhf::index_t s = 0; s < prompts; ++s)
      worst = std::max(worst, rlhf::divergences::reverse_kl{}.value(row(m, s), target(s)));
    return worst;
  }
  /// log π*(·|s) at strength β.
  std::vector<double> optimum(rlhf::index_t s, double beta) const {
    return rlhf::kl_optimum(ref[s], reward[s], beta).log_probs;
  }
  /// Every pair (a, b), a < b, of every prompt, soft-labelled with the exact Bradley–Terry
  /// probability σ(r(a) − r(b)).
  std::vector<soft_pair> exact_pairs() const {
    std::vector<soft_pair> pairs;
    for (rlhf::token_id s = 0; s < prompts; ++s)
      for (rlhf::token_id x = 0; x < actions; ++x)
        for (rlhf::token_id y = x + 1; y < actions; ++y)
          pairs.push_back({{s}, {x}, {y}, 1.0 / (1.0 + std::exp(reward[s][y] - reward[s][x]))});
    return pairs;
  }
  /// The prompts, each one token.
  std::vector<std::vector<rlhf::token_id>> prompt_ids() const {
    std::vector<std::vector<rlhf::token_id>> p;
    for (rlhf::token_id s = 0; s < prompts; ++s) p.push_back({s});
    return p;
  }
  /// The gold reward as the online trainers take it: r(prompt, response).
  auto gold() const {
    return [this](std::span<const rlhf::token_id> p, std::span<const rlhf::token_id> r) { return reward[p[0]][r[0]]; };
  }
  /// Mean over prompts of (E_π r, KL(π ‖ π_ref)) for log-probability rows `logp(s)`.
  template <class Rows>
  std::pair<double, double> reward_and_kl(Rows&& logp) const {
    double r = 0.0, kl = 0.0;
    for (rlhf::index_t s = 0; s < prompts; ++s) {
      const std::vector<double> l = logp(s);
      for (rlhf::index_t a = 0; a < actions; ++a) r += std::exp(l[a]) * reward[s][a];
      kl += rlhf::divergences::reverse_kl{}.value(l, ref[s]);
    }
    return {r / static_cast<double>(prompts), kl / static_cast<double>(prompts)};
  }
};

}  // namespace example
