// SPDX-License-Identifier: MIT
// The DPO family: preference loss × f-divergence on per-sequence log-probabilities.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <tuple>
#include <typeinfo>
#include <vector>

#include "rlhf/objective.hpp"
#include "support/gradcheck.hpp"

namespace {

using rlhf::test::numerical_gradient;
using rlhf::test::relative_error;

// Every combination of a shipped preference loss and a shipped divergence.
const auto all_losses = std::make_tuple(rlhf::loss::sigmoid{}, rlhf::loss::sigmoid{0.2}, rlhf::loss::hinge{},
                                        rlhf::loss::ipo{}, rlhf::loss::conservative{0.1}, rlhf::loss::robust{0.2});
const auto all_divergences = std::make_tuple(rlhf::divergences::reverse_kl{}, rlhf::divergences::forward_kl{},
                                             rlhf::divergences::js{}, rlhf::divergences::alpha{0.5});

template <class F, class L>
void for_each_divergence(F& f, const L& l) {
  std::apply([&](const auto&... d) { (f(l, d), ...); }, all_divergences);
}
template <class F>
void for_each_combination(F&& f) {
  std::apply([&](const auto&... l) { (for_each_divergence(f, l), ...); }, all_losses);
}

}  // namespace

TEST_CASE("dpo_loss: hand-computed two-pair batch (sigmoid, reverse KL)", "[objective][dpo]") {
  // β = 0.1. Pair 1: Δw = -10 - (-11) = 1, Δl = -12 - (-11) = -1, h = 0.1 (1 - (-1)) = 0.2,
  //   L = softplus(-0.2) = 0.5981388693815918, ∂L/∂log π(a_w) = -β σ(-0.2) = -0.045016600.
  // Pair 2: Δw = 0, Δl = 1, h = -0.1, L = softplus(0.1) = 0.744396660073571,
  //   ∂L/∂log π(a_w) = -β σ(0.1) = -0.052497919.
  // Mean loss 0.6712677647275813; gradients carry the 1/P = 1/2 of the mean.
  const std::vector<double> pc{-10.0, -5.0}, pr{-12.0, -4.0}, rc{-11.0, -5.0}, rr{-11.0, -5.0};
  const auto r = rlhf::dpo_loss({pc, pr, rc, rr}, 0.1);
  CHECK(r.loss == Approx(0.6712677647275813).epsilon(1e-13));
  CHECK(r.grad_chosen[0] == Approx(-0.02250830013437611).epsilon(1e-13));
  CHECK(r.grad_chosen[1] == Approx(-0.026248959373947).epsilon(1e-13));
  CHECK(r.grad_rejected[0] == Approx(0.02250830013437611).epsilon(1e-13));
  CHECK(r.grad_rejected[1] == Approx(0.026248959373947).epsilon(1e-13));
  CHECK(r.margins[0] == Approx(0.2));
  CHECK(r.margins[1] == Approx(-0.1));
  // Implicit rewards β Δ: chosen (0.1, 0), rejected (-0.1, 0.1): pair 1 right, pair 2 wrong.
  CHECK(r.chosen_rewards[0] == Approx(0.1));
  CHECK(r.rejected_rewards[1] == Approx(0.1));
  CHECK(r.reward_accuracy == 0.5);
  CHECK(r.reward_margin == Approx((0.2 - 0.1) / 2));
  CHECK(r.mean_chosen_reward == Approx(0.05));
  CHECK(r.mean_rejected_reward == Approx(0.0).margin(1e-15));
}

TEST_CASE("dpo_loss with sigmoid and reverse KL has dL/dDelta_w = -beta sigma(-h) exactly", "[objective][dpo]") {
  const std::size_t n = 7;
  const auto pc = rlhf::test::random_vector(n, 1, 3.0), pr = rlhf::test::random_vector(n, 2, 3.0);
  const auto rc = rlhf::test::random_vector(n, 3, 3.0), rr = rlhf::test::random_vector(n, 4, 3.0);
  for (double beta : {0.01, 0.1, 1.0, 5.0}) {
    const auto r = rlhf::dpo_loss({pc, pr, rc, rr}, beta);
    for (std::size_t i = 0; i < n; ++i) {
      const double h = beta * ((pc[i] - rc[i]) - (pr[i] - rr[i]));
      CHECK(r.margins[i] == Approx(h).epsilon(1e-14));
      CHECK(r.grad_chosen[i] * n == Approx(-beta * rlhf::math::sigmoid(-h)).epsilon(1e-14));
      CHECK(r.grad_rejected[i] * n == Approx(beta * rlhf::math::sigmoid(-h)).epsilon(1e-14));
    }
  }
}

TEST_CASE("dpo_loss with IPO regresses Delta_w - Delta_l to 1/(2 beta)", "[objective][dpo]") {
  // β = 0.5, Δw - Δl = 2: (2 - 1/(2·0.5))² = 1; ∂/∂log π(a_w) = 2 (2 - 1) = 2.
  const std::vector<double> pc{-3.0}, pr{-5.0}, rc{-4.0}, rr{-4.0};
  const auto r = rlhf::dpo_loss({pc, pr, rc, rr}, 0.5, rlhf::loss::ipo{});
  CHECK(r.loss == Approx(1.0).epsilon(1e-14));
  CHECK(r.grad_chosen[0] == Approx(2.0).epsilon(1e-14));
  CHECK(r.grad_rejected[0] == Approx(-2.0).epsilon(1e-14));
  // At the target the loss and gradient vanish.
  const std::vector<double> pc2{-3.0}, pr2{-4.0};  // Δw - Δl = 1 = 1/(2·0.5)
  CHECK(rlhf::dpo_loss({pc2, pr2, rc, rr}, 0.5, rlhf::loss::ipo{}).loss == Approx(0.0).margin(1e-15));
}

TEST_CASE("f-DPO margins use f' of the divergence", "[objective][dpo]") {
  // JS with Δw = log 3, Δl = 0, β = 1: h = log(6/4) - log(2/2) = log 1.5.
  const std::vector<double> pc{std::log(3.0)}, pr{0.0}, z{0.0};
  const auto r = rlhf::dpo_loss({pc, pr, z, z}, 1.0, rlhf::loss::sigmoid{}, rlhf::divergences::js{});
  CHECK(r.margins[0] == Approx(std::log(1.5)).epsilon(1e-14));
  // forward KL with Δw = log 2, Δl = -log 2, β = 2: h = 2 (-1/2 + 2) = 3.
  const std::vector<double> fc{std::log(2.0)}, fr{-std::log(2.0)};
  const auto f = rlhf::dpo_loss({fc, fr, z, z}, 2.0, rlhf::loss::sigmoid{}, rlhf::divergences::forward_kl{});
  CHECK(f.margins[0] == Approx(3.0).epsilon(1e-14));
  CHECK(f.loss == Approx(rlhf::math::softplus(-3.0)).epsilon(1e-14));
}

TEST_CASE("dpo_loss gradients match central differences for every loss x divergence",
          "[objective][dpo][gradcheck]") {
  const std::size_t n = 4;
  const auto rc = rlhf::test::random_vector(n, 13, 2.0), rr = rlhf::test::random_vector(n, 14, 2.0);
  for (double beta : {0.1, 0.8}) {
    for_each_combination([&](const auto& l, const auto& d) {
      // x = (policy chosen, policy rejected), 2n variables; the reference is frozen.
      std::vector<double> x = rlhf::test::random_vector(2 * n, 15, 1.0);
      for (std::size_t i = 0; i < n; ++i) x[i] += rc[i], x[n + i] += rr[i];
      auto run = [&] {
        return rlhf::dpo_loss({rlhf::real_span(x.data(), n), rlhf::real_span(x.data() + n, n), rc, rr}, beta, l, d);
      };
      const auto r = run();
      std::vector<double> analytic(r.grad_chosen);
      analytic.insert(analytic.end(), r.grad_rejected.begin(), r.grad_rejected.end());
      const auto numeric = numerical_gradient([&] { return run().loss; }, std::span<double>(x));
      INFO("beta " << beta << ", loss " << typeid(l).name() << ", divergence " << typeid(d).name());
      CHECK(relative_error(analytic, numeric) < 1e-6);
    });
  }
}

TEST_CASE("dpo_loss is finite at margins of +-1e4", "[objective][dpo][stability]") {
  const std::vector<double> z{0.0, 0.0};
  const std::vector<double> big{5000.0, -5000.0}, small{-5000.0, 5000.0};  // h = ±1e4 with β = 1
  auto check = [&](const auto& l, const auto& d) {
    const auto r = rlhf::dpo_loss({big, small, z, z}, 1.0, l, d);
    CHECK(std::isfinite(r.loss));
    for (std::size_t i = 0; i < 2; ++i) CHECK((std::isfinite(r.grad_chosen[i]) && std::isfinite(r.grad_rejected[i])));
  };
  std::apply([&](const auto&... l) {
    (check(l, rlhf::divergences::reverse_kl{}), ...);
    (check(l, rlhf::divergences::js{}), ...);
  }, all_losses);
  const auto r = rlhf::dpo_loss({big, small, z, z}, 1.0);
  CHECK(r.loss == Approx(1e4 / 2).epsilon(1e-15));  // (softplus(-1e4) + softplus(1e4))/2
  CHECK(r.grad_chosen[0] == 0.0);
  CHECK(r.grad_chosen[1] == -0.5);
}

TEST_CASE("dpo_loss rejects bad input", "[objective][dpo][errors]") {
  const std::vector<double> a{-1.0, -2.0}, b{-1.5}, e;
  const std::vector<double> nan{-1.0, std::numeric_limits<double>::quiet_NaN()};
  CHECK_THROWS_WITH(rlhf::dpo_loss({a, a, a, a}, 0.0), Catch::Contains("beta"));
  CHECK_THROWS_AS(rlhf::dpo_loss({a, a, a, a}, -0.1), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::dpo_loss({a, a, a, a}, std::numeric_limits<double>::infinity()), rlhf::invalid_argument);
  CHECK_THROWS_WITH(rlhf::dpo_loss({a, a, b, a}, 0.1), Catch::Contains("reference_chosen"));
  CHECK_THROWS_AS(rlhf::dpo_loss({e, e, e, e}, 0.1), rlhf::invalid_argument);
  CHECK_THROWS_WITH(rlhf::dpo_loss({a, nan, a, a}, 0.1), Catch::Contains("policy_rejected log-probs[1]"));
  // forward KL at log-ratios beyond the range of double: f' = -inf on both sides gives a NaN
  // margin, reported as a numerical error instead of a NaN loss.
  const std::vector<double> far{-800.0}, z{0.0};
  CHECK_THROWS_AS(rlhf::dpo_loss({far, far, z, z}, 0.1, rlhf::loss::sigmoid{}, rlhf::divergences::forward_kl{}),
                  rlhf::numerical_error);
}

TEST_CASE("oracle: DPO on exact Bradley-Terry preferences converges to pi* = pi_ref exp(r/beta)/Z",
          "[objective][dpo][oracle]") {
  // A one-prompt bandit with 4 actions, policy = softmax(θ). With P(a ≻ b) = σ(r_a - r_b), the
  // expected BT loss of the pair (a, b), r_a > r_b, is the conservative loss with ε = σ(r_b - r_a)
  // (the probability that the label says b), whose minimiser h = r_a - r_b holds for every pair at
  // once exactly when π = π* (ALGORITHMS.md §4). Full-batch gradient descent on θ must get there.
  const double beta = 0.5;
  const std::vector<double> r{1.0, 0.2, -0.5, 0.7};
  std::vector<double> ref = rlhf::test::random_vector(4, 5, 1.0);
  const double lse = rlhf::math::logsumexp(std::span<const double>(ref));
  for (double& x : ref) x -= lse;
  std::vector<double> theta = ref, logp(4), grad(4);
  auto refresh = [&] {
    const double z = rlhf::math::logsumexp(std::span<const double>(theta));
    for (std::size_t a = 0; a < 4; ++a) logp[a] = theta[a] - z;
  };
  refresh();
  const double kl_start = rlhf::kl_to_optimum(logp, ref, r, beta);
  for (int step = 0; step < 4000; ++step) {
    std::fill(grad.begin(), grad.end(), 0.0);
    for (std::size_t a = 0; a < 4; ++a)
      for (std::size_t b = 0; b < 4; ++b) {
        if (!(r[a] > r[b])) continue;
        const std::vector<double> pc{logp[a]}, pr{logp[b]}, rc{ref[a]}, rr{ref[b]};
        const auto res = rlhf::dpo_loss({pc, pr, rc, rr}, beta, rlhf::loss::conservative{rlhf::math::sigmoid(r[b] - r[a])});
        // ∂ log π(a)/∂θ_j = [a = j] - π_j.
        for (std::size_t j = 0; j < 4; ++j) {
          const double pj = std::exp(logp[j]);
          grad[j] += res.grad_chosen[0] * ((a == j ? 1.0 : 0.0) - pj) + res.grad_rejected[0] * ((b == j ? 1.0 : 0.0) - pj);
        }
      }
    for (std::size_t j = 0; j < 4; ++j) theta[j] -= 2.0 * grad[j];
    refresh();
  }
  const double kl_end = rlhf::kl_to_optimum(logp, ref, r, beta);
  INFO("KL(pi || pi*) from " << kl_start << " to " << kl_end);
  CHECK(kl_start > 0.1);
  CHECK(kl_end < 1e-10);
}
