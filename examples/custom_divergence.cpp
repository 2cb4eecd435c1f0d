// SPDX-License-Identifier: MIT
// A divergence of your own, in DPO (docs/concepts/divergence.md, ALGORITHMS.md §4).
//
// f-DPO (Wang et al. 2023, "Beyond Reverse KL") regularises with any f-divergence
// D_f(π ‖ π_ref) = Σ π_ref f(π/π_ref) whose f′ is invertible with 0 outside its domain. The
// library needs only f′ (in log space), its derivative and the value; the trainer, the loss and
// the closed-form optimum `rlhf::f_divergence_optimum` then work for the new divergence as they
// do for the shipped ones. Here: Jeffreys' divergence, the symmetrised KL,
//     f(u) = (u − 1) log u,   f′(u) = log u + 1 − 1/u,   u f″(u) = 1 + 1/u,
//     D_J(p ‖ q) = KL(p ‖ q) + KL(q ‖ p) = Σ_v (p_v − q_v)(log p_v − log q_v).
// DPO with it, on exact preferences of a bandit, must converge to the Jeffreys optimum
// f′(π*/π_ref) = (r − λ)/β — which differs from the reverse-KL optimum π_ref exp(r/β)/Z.
// Exits 0 only when it does (KL to the optimum ≤ 1e-3) and the optimum is not the KL one.
#include <cmath>
#include <cstdio>

#include <rlhf/rlhf.hpp>
#include <rlhf/train/dpo.hpp>

#include "bandit.hpp"

/// Jeffreys' divergence: the concept asks for an opt-in tag and three functions.
struct jeffreys {
  using rlhf_concept = rlhf::divergence_tag;

  /// f′(u) from log u: log u + 1 − exp(−log u).
  double f_prime_log(double log_u) const noexcept { return log_u - std::expm1(-log_u); }
  /// d f′ / d log u = u f″(u) = 1 + 1/u.
  double f_prime_log_grad(double log_u) const noexcept { return 1.0 + std::exp(-log_u); }
  /// D_J(p ‖ q) of two log-probability rows.
  double value(rlhf::real_span logp, rlhf::real_span logq) const {
    double d = 0.0;
    for (std::size_t v = 0; v < logp.size(); ++v)
      if (logp[v] != logq[v]) d += (std::exp(logp[v]) - std::exp(logq[v])) * (logp[v] - logq[v]);  // 0 when both are −inf
    return d;
  }
};
static_assert(rlhf::divergence<jeffreys>);

int main() {
  constexpr double beta = 0.5;
  const auto b = example::bandit<>::make();
  const auto pairs = b.exact_pairs();

  // f-DPO: dpo_trainer<Policy, Loss, Divergence> — the divergence is a template argument.
  auto policy = b.reference(), ref = b.reference();
  rlhf::train::dpo_trainer<decltype(policy), rlhf::loss::sigmoid, jeffreys> trainer(
      {.optimizer = {.lr = 0.05, .min_lr = 1e-4, .max_grad_norm = 0.0},
       .steps = 600,
       .batch_size = static_cast<rlhf::index_t>(pairs.size()),
       .beta = beta},
      rlhf::loss::sigmoid(), jeffreys{}, {.progress = false});
  trainer.train(policy, pairs, ref);

  // The closed form for this divergence, solved by the library from f′ alone.
  const auto jeffreys_optimum = [&](rlhf::index_t s) { return rlhf::f_divergence_optimum(b.ref[s], b.reward[s], beta, jeffreys{}); };
  const auto kl_optimum = [&](rlhf::index_t s) { return b.optimum(s, beta); };
  const double to_own = b.kl_to(policy, jeffreys_optimum), to_kl = b.kl_to(policy, kl_optimum);

  std::printf("prompt 0        pi_ref  pi*_KL  pi*_Jeffreys  DPO(Jeffreys)\n");
  const auto own = jeffreys_optimum(0), kl = kl_optimum(0), trained = b.row(policy, 0);
  for (rlhf::index_t a = 0; a < b.actions; ++a)
    std::printf("action %lld (r=%+.2f) %6.3f  %6.3f  %12.3f  %13.3f\n", static_cast<long long>(a), b.reward[0][a],
                std::exp(b.ref[0][a]), std::exp(kl[a]), std::exp(own[a]), std::exp(trained[a]));
  std::printf("KL(DPO-Jeffreys || Jeffreys optimum) = %.2e   KL(DPO-Jeffreys || reverse-KL optimum) = %.2e\n", to_own,
              to_kl);
  return to_own <= 1e-3 && to_kl > 10 * to_own ? 0 : 1;
}
