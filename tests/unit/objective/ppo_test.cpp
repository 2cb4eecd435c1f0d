// SPDX-License-Identifier: MIT
// PPO pieces: KL-penalised per-token rewards, GAE, whitening, the clipped surrogate, the clipped
// value loss, KL controllers, and the critic-free RLOO / GRPO advantages.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include "rlhf/objective.hpp"
#include "support/gradcheck.hpp"

namespace {

using rlhf::test::numerical_gradient;
using rlhf::test::relative_error;
constexpr double qnan = std::numeric_limits<double>::quiet_NaN();

xt::xtensor<double, 2> random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed, double scale = 1.0) {
  const auto v = rlhf::test::random_vector(rows * cols, seed, scale);
  xt::xtensor<double, 2> m = xt::zeros<double>({rows, cols});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

// Central differences of f() w.r.t. the valid entries of m (padding stays untouched), compared
// with the same entries of the analytic gradient.
template <class F>
double gradcheck_valid(F&& f, xt::xtensor<double, 2>& m, const std::vector<std::int32_t>& lengths,
                       const xt::xtensor<double, 2>& analytic) {
  std::vector<double> a, n;
  for (std::size_t b = 0; b < m.shape(0); ++b)
    for (std::size_t t = 0; t < static_cast<std::size_t>(lengths[b]); ++t) {
      std::span<double> x(&m(b, t), 1);
      n.push_back(numerical_gradient(f, x)[0]);
      a.push_back(analytic(b, t));
    }
  return relative_error(a, n);
}

}  // namespace

TEST_CASE("kl_penalized_rewards: hand-computed, padding never read", "[objective][ppo][kl_penalty]") {
  // Row 0 (3 tokens): ℓ = (-1 - -1.5, -2 - -1, -0.5 - -0.5) = (0.5, -1, 0); row 1 (1 token): ℓ = -0.2.
  // k1, β = 0.1: R = -0.1 ℓ, plus the score at the last token: row 0 (-0.05, 0.1, 0 + 2),
  // row 1 (0.02 - 1). Sequence KL (k1): -0.5 and -0.2, mean -0.35.
  const xt::xtensor<double, 2> pol{{-1.0, -2.0, -0.5}, {-0.3, qnan, qnan}};
  const xt::xtensor<double, 2> ref{{-1.5, -1.0, -0.5}, {-0.1, qnan, qnan}};
  const std::vector<std::int32_t> len{3, 1};
  const std::vector<double> scores{2.0, -1.0};
  const auto r = rlhf::kl_penalized_rewards(pol, ref, len, scores, 0.1);
  CHECK(r.rewards(0, 0) == Approx(-0.05).epsilon(1e-14));
  CHECK(r.rewards(0, 1) == Approx(0.1).epsilon(1e-14));
  CHECK(r.rewards(0, 2) == Approx(2.0).epsilon(1e-14));
  CHECK(r.rewards(1, 0) == Approx(-0.98).epsilon(1e-14));
  CHECK(r.rewards(1, 1) == 0.0);
  CHECK(r.kl(1, 2) == 0.0);
  CHECK(r.sequence_kl[0] == Approx(-0.5).epsilon(1e-14));
  CHECK(r.mean_kl == Approx(-0.35).epsilon(1e-14));
  // k3: k3(0.5) = e^-0.5 - 0.5 = 0.10653065971263342, k3(-1) = e - 2 = 0.7182818284590451, k3(0) = 0.
  const auto r3 = rlhf::kl_penalized_rewards(pol, ref, len, scores, 0.1, rlhf::kl_estimator::k3);
  CHECK(r3.kl(0, 0) == Approx(0.10653065971263342).epsilon(1e-14));
  CHECK(r3.kl(0, 1) == Approx(0.7182818284590451).epsilon(1e-14));
  CHECK(r3.rewards(0, 2) == 2.0);
  CHECK(r3.sequence_kl[0] >= 0.0);
  // float inputs (model outputs) are accepted as they are.
  const xt::xtensor<float, 2> polf{{-1.0f, -2.0f}}, reff{{-1.5f, -1.0f}};
  const std::vector<std::int32_t> lenf{2};
  const std::vector<float> scoref{1.0f};
  CHECK(rlhf::kl_penalized_rewards(polf, reff, lenf, scoref, 1.0).rewards(0, 1) == Approx(1.0 + 1.0));
}

TEST_CASE("kl_penalized_rewards rejects bad input", "[objective][ppo][kl_penalty][errors]") {
  const xt::xtensor<double, 2> a{{-1.0, -2.0}}, b{{-1.0, -2.0, -3.0}}, n{{-1.0, qnan}};
  const std::vector<std::int32_t> len{2}, zero{0}, longer{3};
  const std::vector<double> s{1.0}, s2{1.0, 2.0};
  CHECK_THROWS_AS(rlhf::kl_penalized_rewards(a, b, len, s, 0.1), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::kl_penalized_rewards(a, a, zero, s, 0.1), rlhf::invalid_argument);
  CHECK_THROWS_WITH(rlhf::kl_penalized_rewards(a, a, longer, s, 0.1), Catch::Contains("lengths[0]"));
  CHECK_THROWS_AS(rlhf::kl_penalized_rewards(a, a, len, s2, 0.1), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::kl_penalized_rewards(a, a, len, s, -0.1), rlhf::invalid_argument);
  CHECK_THROWS_WITH(rlhf::kl_penalized_rewards(a, n, len, s, 0.1), Catch::Contains("(0, 1)"));
}

TEST_CASE("gae: hand-computed recursion with padding", "[objective][ppo][gae]") {
  // γ = 0.9, λ = 0.8 (γλ = 0.72). Row 0: R = (1, 0, 2), V = (0.5, 1, -1), V after the end = 0:
  //   δ2 = 2 - (-1) = 3,          A2 = 3
  //   δ1 = 0 + 0.9(-1) - 1 = -1.9, A1 = -1.9 + 0.72·3 = 0.26
  //   δ0 = 1 + 0.9·1 - 0.5 = 1.4,  A0 = 1.4 + 0.72·0.26 = 1.5872;  G = A + V = (2.0872, 1.26, 2).
  // Row 1 (2 tokens): R = (0, 1), V = (0, 0.5): δ1 = 0.5, A1 = 0.5; δ0 = 0.45, A0 = 0.45 + 0.36 = 0.81.
  const xt::xtensor<double, 2> rew{{1.0, 0.0, 2.0}, {0.0, 1.0, qnan}};
  const xt::xtensor<double, 2> val{{0.5, 1.0, -1.0}, {0.0, 0.5, qnan}};
  const std::vector<std::int32_t> len{3, 2};
  const auto g = rlhf::gae(rew, val, len, 0.9, 0.8);
  CHECK(g.advantages(0, 0) == Approx(1.5872).epsilon(1e-13));
  CHECK(g.advantages(0, 1) == Approx(0.26).epsilon(1e-13));
  CHECK(g.advantages(0, 2) == Approx(3.0).epsilon(1e-13));
  CHECK(g.returns(0, 0) == Approx(2.0872).epsilon(1e-13));
  CHECK(g.returns(0, 1) == Approx(1.26).epsilon(1e-13));
  CHECK(g.advantages(1, 0) == Approx(0.81).epsilon(1e-13));
  CHECK(g.advantages(1, 1) == Approx(0.5).epsilon(1e-13));
  CHECK(g.advantages(1, 2) == 0.0);
  CHECK(g.returns(1, 2) == 0.0);
}

TEST_CASE("gae with gamma = lambda = 1 is reward-to-go minus V; in general the (gamma lambda)^l sum of deltas",
          "[objective][ppo][gae]") {
  const auto rew = random_matrix(3, 6, 1), val = random_matrix(3, 6, 2);
  const std::vector<std::int32_t> len{6, 4, 1};
  const auto g1 = rlhf::gae(rew, val, len, 1.0, 1.0);
  for (std::size_t b = 0; b < 3; ++b)
    for (int t = 0; t < len[b]; ++t) {
      double to_go = 0.0;
      for (int u = t; u < len[b]; ++u) to_go += rew(b, u);
      CHECK(g1.advantages(b, t) == Approx(to_go - val(b, t)).epsilon(1e-12).margin(1e-13));
      CHECK(g1.returns(b, t) == Approx(to_go).epsilon(1e-12).margin(1e-13));
    }
  const double gamma = 0.95, lambda = 0.6;
  const auto g = rlhf::gae(rew, val, len, gamma, lambda);
  for (std::size_t b = 0; b < 3; ++b)
    for (int t = 0; t < len[b]; ++t) {
      double a = 0.0;
      for (int l = 0; t + l < len[b]; ++l) {
        const int u = t + l;
        const double next_v = u + 1 < len[b] ? val(b, u + 1) : 0.0;
        a += std::pow(gamma * lambda, l) * (rew(b, u) + gamma * next_v - val(b, u));
      }
      CHECK(g.advantages(b, t) == Approx(a).epsilon(1e-12).margin(1e-13));
    }
  // λ = 0 is the one-step TD error.
  const auto g0 = rlhf::gae(rew, val, len, gamma, 0.0);
  CHECK(g0.advantages(0, 2) == Approx(rew(0, 2) + gamma * val(0, 3) - val(0, 2)).epsilon(1e-14));
}

TEST_CASE("gae rejects bad input", "[objective][ppo][gae][errors]") {
  const xt::xtensor<double, 2> a{{1.0, 2.0}}, n{{1.0, qnan}};
  const std::vector<std::int32_t> len{2}, bad{-1};
  CHECK_THROWS_WITH(rlhf::gae(a, a, len, 1.1, 0.9), Catch::Contains("gamma"));
  CHECK_THROWS_WITH(rlhf::gae(a, a, len, 0.9, -0.1), Catch::Contains("lambda"));
  CHECK_THROWS_AS(rlhf::gae(a, a, bad, 0.9, 0.9), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::gae(a, n, len, 0.9, 0.9), rlhf::numerical_error);
  CHECK_THROWS_WITH(rlhf::gae(a, n, len, 0.9, 0.9), Catch::Contains("(0, 1)") && Catch::Contains("values = nan"));
  const std::vector<std::int32_t> len64{2, 2};
  CHECK_THROWS_AS(rlhf::gae(a, a, len64, 0.9, 0.9), rlhf::invalid_argument);
}

TEST_CASE("whiten: mean 0 and std 1 over the valid positions; keep_mean keeps the mean", "[objective][ppo][whiten]") {
  // (1, 2, 3): mean 2, population variance 2/3, whitened ±√1.5 = ±1.224744871391589 and 0.
  const xt::xtensor<double, 2> small{{1.0, 2.0}, {3.0, qnan}};
  const std::vector<std::int32_t> small_len{2, 1};
  constexpr double tiny_eps = std::numeric_limits<double>::min();  // ε must be > 0; this one is invisible next to 2/3
  const auto w = rlhf::whiten(small, small_len, {.eps = tiny_eps});
  CHECK(w(0, 0) == Approx(-1.224744871391589).epsilon(1e-14));
  CHECK(w(0, 1) == Approx(0.0).margin(1e-15));
  CHECK(w(1, 0) == Approx(1.224744871391589).epsilon(1e-14));
  CHECK(w(1, 1) == 0.0);

  auto x = random_matrix(4, 7, 5, 3.0);
  for (std::size_t t = 0; t < 7; ++t) x(0, t) += 10.0;  // an offset the whitening must remove
  const std::vector<std::int64_t> len{7, 3, 0, 5};
  for (bool keep : {false, true}) {
    const auto y = rlhf::whiten(x, len, {.keep_mean = keep});
    double n = 0, sx = 0, sy = 0;
    for (std::size_t b = 0; b < 4; ++b)
      for (std::int64_t t = 0; t < len[b]; ++t) sx += x(b, t), sy += y(b, t), n += 1;
    const double mx = sx / n, my = sy / n;
    double var = 0;
    for (std::size_t b = 0; b < 4; ++b)
      for (std::int64_t t = 0; t < len[b]; ++t) var += (y(b, t) - my) * (y(b, t) - my);
    CHECK(my == Approx(keep ? mx : 0.0).margin(1e-12));
    CHECK(std::sqrt(var / n) == Approx(1.0).epsilon(1e-8));
    CHECK(y(2, 0) == 0.0);
  }
  // A constant batch maps to 0 (ε keeps it finite), not NaN.
  const xt::xtensor<double, 2> c{{4.0, 4.0}};
  const std::vector<std::int32_t> cl{2};
  CHECK(rlhf::whiten(c, cl)(0, 1) == 0.0);
  const std::vector<std::int32_t> none{0};
  CHECK_THROWS_AS(rlhf::whiten(c, none), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::whiten(c, cl, {.eps = -1.0}), rlhf::invalid_argument);
}

TEST_CASE("whiten: eps must be a finite number > 0, and a constant batch whitens to exactly 0",
          "[objective][ppo][whiten][errors]") {
  // 0.1 three times: the naive mean (0.1 + 0.1 + 0.1)/3 = 0.10000000000000002 would leave
  // -1.4e-17 / sqrt(ε) ≈ -1.4e-13 instead of 0.
  const xt::xtensor<double, 2> c{{0.1, 0.1}, {0.1, qnan}};
  const std::vector<std::int32_t> cl{2, 1};
  const auto w = rlhf::whiten(c, cl);
  CHECK(w(0, 0) == 0.0);
  CHECK(w(0, 1) == 0.0);
  CHECK(w(1, 0) == 0.0);
  CHECK(rlhf::whiten(c, cl, {.keep_mean = true})(1, 0) == 0.1);
  for (double eps : {0.0, -1e-8, qnan, std::numeric_limits<double>::infinity()}) {
    INFO("eps = " << eps);
    CHECK_THROWS_AS(rlhf::whiten(c, cl, {.eps = eps}), rlhf::invalid_argument);
    CHECK_THROWS_WITH(rlhf::whiten(c, cl, {.eps = eps}),
                      Catch::Contains("whiten_options.eps") && Catch::Contains("> 0"));
  }
  // A NaN at a valid position is a numerical failure upstream; padding may hold NaN.
  const xt::xtensor<double, 2> n{{1.0, qnan}};
  const std::vector<std::int32_t> one{1}, two{2};
  CHECK(rlhf::whiten(n, one)(0, 0) == 0.0);
  CHECK_THROWS_AS(rlhf::whiten(n, two), rlhf::numerical_error);
  CHECK_THROWS_WITH(rlhf::whiten(n, two), Catch::Contains("rlhf::whiten") && Catch::Contains("(0, 1)"));
}

TEST_CASE("ppo_clip_loss: hand-computed tokens in every clip regime", "[objective][ppo][clip]") {
  // ε = 0.2, N = 5 valid tokens:
  //  ρ = 1.5, A = +1: min(1.5, 1.2) = 1.2   clipped, gradient 0
  //  ρ = 1.5, A = -1: min(-1.5, -1.2) = -1.5 unclipped, ∂L/∂log π = -ρA/N = +0.3
  //  ρ = 0.5, A = +2: min(1.0, 1.6) = 1.0   unclipped, -ρA/N = -0.2
  //  ρ = 0.5, A = -2: min(-1.0, -1.6) = -1.6 clipped, gradient 0
  //  ρ = 1.1, A = +3: inside the range, 3.3, -ρA/N = -0.66
  // L = -(1.2 - 1.5 + 1.0 - 1.6 + 3.3)/5 = -0.48; clip fraction 2/5;
  // approx KL = mean((ρ-1) - log ρ) = 0.11601079301984737; mean ρ = 1.02.
  const double l15 = std::log(1.5), l05 = std::log(0.5), l11 = std::log(1.1);
  const xt::xtensor<double, 2> new_lp{{l15 - 1.0, l15 - 2.0, l05 - 3.0}, {l05 - 1.0, l11 - 0.5, qnan}};
  const xt::xtensor<double, 2> old_lp{{-1.0, -2.0, -3.0}, {-1.0, -0.5, qnan}};
  const xt::xtensor<double, 2> adv{{1.0, -1.0, 2.0}, {-2.0, 3.0, qnan}};
  const std::vector<std::int32_t> len{3, 2};
  const auto r = rlhf::ppo_clip_loss(new_lp, old_lp, adv, len, 0.2);
  CHECK(r.tokens == 5);
  CHECK(r.loss == Approx(-0.48).epsilon(1e-13));
  CHECK(r.clip_fraction == Approx(0.4));
  CHECK(r.approx_kl == Approx(0.11601079301984737).epsilon(1e-12));
  CHECK(r.mean_ratio == Approx(1.02).epsilon(1e-13));
  CHECK(r.grad(0, 0) == 0.0);
  CHECK(r.grad(0, 1) == Approx(0.3).epsilon(1e-13));
  CHECK(r.grad(0, 2) == Approx(-0.2).epsilon(1e-13));
  CHECK(r.grad(1, 0) == 0.0);
  CHECK(r.grad(1, 1) == Approx(-0.66).epsilon(1e-13));
  CHECK(r.grad(1, 2) == 0.0);
}

TEST_CASE("ppo_clip_loss: the gradient is zero exactly where clipping stops the update",
          "[objective][ppo][clip]") {
  const std::vector<std::int32_t> len{1};
  const xt::xtensor<double, 2> old_lp{{0.0}};
  auto grad_at = [&](double rho, double a) {
    const xt::xtensor<double, 2> new_lp{{std::log(rho)}}, adv{{a}};
    return rlhf::ppo_clip_loss(new_lp, old_lp, adv, len, 0.2).grad(0, 0);
  };
  // Above 1+ε with A > 0 (further increase would be greedy): zero. With A < 0: pushes ρ down.
  CHECK(grad_at(1.3, 1.0) == 0.0);
  CHECK(grad_at(1.3, -1.0) > 0.0);  // ∂L/∂log π > 0: gradient descent lowers log π
  // Below 1-ε with A < 0: zero. With A > 0: pushes ρ up.
  CHECK(grad_at(0.7, -1.0) == 0.0);
  CHECK(grad_at(0.7, 1.0) < 0.0);
  // Inside the range the gradient is never clipped.
  CHECK(grad_at(1.1, 1.0) == Approx(-1.1));
  CHECK(grad_at(0.9, -1.0) == Approx(0.9));
}

TEST_CASE("ppo_clip_loss gradient matches central differences", "[objective][ppo][clip][gradcheck]") {
  const auto old_lp = random_matrix(3, 5, 31, 1.0);
  const auto adv = random_matrix(3, 5, 32, 1.0);
  xt::xtensor<double, 2> new_lp = old_lp + random_matrix(3, 5, 33, 0.3);  // ρ spread around 1: both clipped and unclipped tokens
  const std::vector<std::int32_t> len{5, 2, 4};
  const auto r = rlhf::ppo_clip_loss(new_lp, old_lp, adv, len, 0.1);
  CHECK(r.clip_fraction > 0.0);
  CHECK(r.clip_fraction < 1.0);
  auto f = [&] { return rlhf::ppo_clip_loss(new_lp, old_lp, adv, len, 0.1).loss; };
  CHECK(gradcheck_valid(f, new_lp, len, r.grad) < 1e-7);
}

TEST_CASE("ppo_clip_loss rejects bad input", "[objective][ppo][clip][errors]") {
  const xt::xtensor<double, 2> a{{0.0, 0.1}}, n{{qnan, 0.1}}, b{{0.0}};
  const std::vector<std::int32_t> len{2}, none{0};
  CHECK_THROWS_WITH(rlhf::ppo_clip_loss(a, a, a, len, 0.0), Catch::Contains("clip_eps"));
  CHECK_THROWS_AS(rlhf::ppo_clip_loss(a, a, a, len, 1.0), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::ppo_clip_loss(a, a, a, none, 0.2), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::ppo_clip_loss(a, n, a, len, 0.2), rlhf::numerical_error);
  CHECK_THROWS_WITH(rlhf::ppo_clip_loss(a, n, a, len, 0.2), Catch::Contains("old_logps = nan"));
  CHECK_THROWS_WITH(rlhf::ppo_clip_loss(a, b, a, len, 0.2), Catch::Contains("old_logps"));
}

TEST_CASE("clipped_value_loss: hand-computed, gradient zero where the clipped term dominates",
          "[objective][ppo][value_loss]") {
  // ε_v = 0.2, N = 3:
  //  V = 1, V_old = 0.5, G = 0: clip(V) = 0.7; (V-G)² = 1 ≥ 0.49 → ½·1 = 0.5, ∂/∂V = (V-G)/N = 1/3
  //  V = 1, V_old = 0.5, G = 2: (V-G)² = 1 < (0.7-2)² = 1.69 → ½·1.69 = 0.845, ∂/∂V = 0
  //  V = 0.6, V_old = 0.5, G = 1: inside the range, ½·0.16 = 0.08, ∂/∂V = -0.4/3
  // L = (0.5 + 0.845 + 0.08)/3 = 0.475; clip fraction 1/3; mean |V - G| = (1 + 1 + 0.4)/3 = 0.8.
  const xt::xtensor<double, 2> v{{1.0, 1.0, 0.6}}, vo{{0.5, 0.5, 0.5}}, g{{0.0, 2.0, 1.0}};
  const std::vector<std::int32_t> len{3};
  const auto r = rlhf::clipped_value_loss(v, vo, g, len, 0.2);
  CHECK(r.loss == Approx(0.475).epsilon(1e-14));
  CHECK(r.grad(0, 0) == Approx(1.0 / 3.0).epsilon(1e-14));
  CHECK(r.grad(0, 1) == 0.0);
  CHECK(r.grad(0, 2) == Approx(-0.4 / 3.0).epsilon(1e-14));
  CHECK(r.clip_fraction == Approx(1.0 / 3.0));
  CHECK(r.mean_abs_error == Approx(0.8));
  // Clipping off: ½ mean (V - G)².
  const auto u = rlhf::clipped_value_loss(v, vo, g, len, std::numeric_limits<double>::infinity());
  CHECK(u.loss == Approx((0.5 + 0.5 + 0.08) / 3).epsilon(1e-14));
  CHECK(u.clip_fraction == 0.0);
  CHECK_THROWS_AS(rlhf::clipped_value_loss(v, vo, g, len, 0.0), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::clipped_value_loss(v, vo, g, len, qnan), rlhf::invalid_argument);
}

TEST_CASE("clipped_value_loss gradient matches central differences", "[objective][ppo][value_loss][gradcheck]") {
  const auto vo = random_matrix(2, 6, 41);
  const auto g = random_matrix(2, 6, 42, 1.5);
  xt::xtensor<double, 2> v = vo + random_matrix(2, 6, 43, 0.4);
  const std::vector<std::int32_t> len{6, 3};
  const auto r = rlhf::clipped_value_loss(v, vo, g, len, 0.2);
  CHECK(r.clip_fraction > 0.0);
  CHECK(r.clip_fraction < 1.0);
  auto f = [&] { return rlhf::clipped_value_loss(v, vo, g, len, 0.2).loss; };
  CHECK(gradcheck_valid(f, v, len, r.grad) < 1e-7);
}

TEST_CASE("adaptive_kl_controller follows Ziegler et al.'s update", "[objective][ppo][kl_controller]") {
  // β0 = 0.2, target 6, horizon 10000.
  // KL = 9: e = clip(9/6 - 1 = 0.5) = 0.2, β = 0.2 (1 + 0.2·256/10000) = 0.201024.
  // KL = 5.4: e = -0.1, β = 0.201024 (1 - 0.1·512/10000) = 0.19999475712.
  rlhf::adaptive_kl_controller c{0.2, 6.0, 10000.0};
  CHECK(c.update(9.0, 256) == Approx(0.201024).epsilon(1e-14));
  CHECK(c.update(5.4, 512) == Approx(0.19999475712).epsilon(1e-12));
  CHECK(c.beta() == Approx(0.19999475712).epsilon(1e-12));
  // At the target nothing changes.
  const double before = c.beta();
  CHECK(c.update(6.0, 1000) == before);
  CHECK_THROWS_AS((rlhf::adaptive_kl_controller{0.0, 6.0, 1e4}), rlhf::invalid_argument);
  CHECK_THROWS_AS((rlhf::adaptive_kl_controller{0.1, -1.0, 1e4}), rlhf::invalid_argument);
  CHECK_THROWS_AS(c.update(qnan, 1), rlhf::numerical_error);
  const rlhf::fixed_kl_controller f{0.05};
  CHECK(f.update(100.0, 10) == 0.05);
  CHECK_THROWS_AS(rlhf::fixed_kl_controller{-1.0}, rlhf::invalid_argument);
}

TEST_CASE("rloo_advantages: leave-one-out baseline", "[objective][rloo]") {
  // k = 3, rewards (1, 2, 6): baselines (2+6)/2 = 4, (1+6)/2 = 3.5, (1+2)/2 = 1.5 → (-3, -1.5, 4.5);
  // second prompt (0, 0, 3): baselines 1.5, 1.5, 0 → (-1.5, -1.5, 3).
  const std::vector<double> r{1, 2, 6, 0, 0, 3};
  const auto a = rlhf::rloo_advantages(r, 3);
  const std::vector<double> want{-3.0, -1.5, 4.5, -1.5, -1.5, 3.0};
  for (std::size_t i = 0; i < 6; ++i) CHECK(a[i] == Approx(want[i]).epsilon(1e-14));
  // Identity: k/(k-1) (r - mean), and the advantages of a group sum to 0.
  const auto rr = rlhf::test::random_vector(8, 3);
  const auto b = rlhf::rloo_advantages(rr, 4);
  for (std::size_t g = 0; g < 8; g += 4) {
    const double mean = (rr[g] + rr[g + 1] + rr[g + 2] + rr[g + 3]) / 4;
    for (std::size_t i = g; i < g + 4; ++i) CHECK(b[i] == Approx(4.0 / 3.0 * (rr[i] - mean)).epsilon(1e-12));
  }
  CHECK_THROWS_AS(rlhf::rloo_advantages(r, 1), rlhf::invalid_argument);
  CHECK_THROWS_WITH(rlhf::rloo_advantages(r, 4), Catch::Contains("groups"));
}

TEST_CASE("grpo_advantages: group-normalised", "[objective][grpo]") {
  // (1, 2, 6): mean 3, sample std √((4 + 1 + 9)/2) = √7 → (r - 3)/(√7 + 1e-4).
  const std::vector<double> r{1, 2, 6, 5, 5, 5};
  const auto a = rlhf::grpo_advantages(r, 3);
  CHECK(a[0] == Approx(-0.7559003756697406).epsilon(1e-13));
  CHECK(a[1] == Approx(-0.3779501878348703).epsilon(1e-13));
  CHECK(a[2] == Approx(1.133850563504611).epsilon(1e-13));
  CHECK(a[4] == 0.0);  // equal rewards: no signal, no NaN
  const auto d = rlhf::grpo_advantages(r, 3, {.scale_by_std = false});
  CHECK(d[2] == Approx(3.0));
  // With a negligible ε the group has mean 0 and sample std 1.
  const auto rr = rlhf::test::random_vector(5, 9, 4.0);
  const auto z = rlhf::grpo_advantages(rr, 5, {.eps = std::numeric_limits<double>::min()});
  double m = 0, s = 0;
  for (double x : z) m += x;
  for (double x : z) s += x * x;
  CHECK(m == Approx(0.0).margin(1e-12));
  CHECK(std::sqrt(s / 4) == Approx(1.0).epsilon(1e-12));
  CHECK_THROWS_AS(rlhf::grpo_advantages(r, 1), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::grpo_advantages(std::vector<double>{1.0, qnan}, 2), rlhf::numerical_error);
}

TEST_CASE("grpo_advantages: eps must be a finite number > 0, and a group of equal rewards gets exactly 0",
          "[objective][grpo][errors]") {
  // ε = 0 used to turn an equal group into 0/0 = NaN; now it is rejected, and any ε > 0 gives 0.
  // 0.1 three times also checks the mean is exact (the naive one is 0.10000000000000002).
  const std::vector<double> equal{0.1, 0.1, 0.1, -3.0, -3.0, -3.0};
  for (const rlhf::grpo_options& o : {rlhf::grpo_options{}, rlhf::grpo_options{.eps = 1e-300},
                                      rlhf::grpo_options{.scale_by_std = false}}) {
    const auto a = rlhf::grpo_advantages(equal, 3, o);
    for (double x : a) CHECK(x == 0.0);
  }
  for (double eps : {0.0, -1e-4, qnan, std::numeric_limits<double>::infinity()}) {
    INFO("eps = " << eps);
    CHECK_THROWS_AS(rlhf::grpo_advantages(equal, 3, {.eps = eps}), rlhf::invalid_argument);
    CHECK_THROWS_WITH(rlhf::grpo_advantages(equal, 3, {.eps = eps}),
                      Catch::Contains("grpo_options.eps") && Catch::Contains("> 0"));
  }
}

TEST_CASE("real_span / real_matrix read xtensor rows and views correctly and reject strided layouts",
          "[objective][real_span]") {
  const xt::xtensor<double, 2> a{{1, 2, 3}, {4, 5, 6}};
  const rlhf::real_matrix m(a);
  CHECK(m.rows() == 2);
  CHECK(m(1, 0) == 4.0);
  CHECK(m.row(1)[2] == 6.0);
  // A row view starts at its data offset.
  const auto row = xt::view(a, 1, xt::all());
  const rlhf::real_span s(row);
  CHECK(s.size() == 3);
  CHECK(s[0] == 4.0);
  CHECK(s[2] == 6.0);
  // A column view or a column-major tensor would be misread as dense: rejected.
  const auto col = xt::view(a, xt::all(), 1);
  CHECK_THROWS_AS(rlhf::real_span(col), rlhf::invalid_argument);
  const xt::xtensor<double, 2, xt::layout_type::column_major> cm{{1, 2}, {3, 4}};
  CHECK_THROWS_WITH(rlhf::real_matrix(cm), Catch::Contains("row-major"));
  const xt::xtensor<double, 1> flat{1, 2, 3};
  CHECK_THROWS_AS(rlhf::real_matrix(flat), rlhf::invalid_argument);
  const std::vector<double> six(6, 1.0);
  CHECK_THROWS_AS(rlhf::real_matrix(six, 4, 2), rlhf::invalid_argument);
  // token_batch-style int32 lengths.
  const xt::xtensor<std::int32_t, 1> len{3, 1};
  CHECK(rlhf::length_span(len)[1] == 1);
}

TEST_CASE("kl_loss: the in-loss KL term of GRPO, hand-computed and gradient-checked", "[objective][kl_loss]") {
  // ℓ = (-1 - -1.5, -2 - -1) = (0.5, -1); k3 = (e^-0.5 - 0.5, e - 2) = (0.10653066, 0.71828183),
  // mean 0.41240624408583926; β = 0.1 → loss 0.041240624408583926.
  // ∂/∂log π = β k3′(ℓ)/N = 0.1 (1 - e^-ℓ)/2 = (0.019673467, -0.085914091).
  const xt::xtensor<double, 2> pol{{-1.0, -2.0, qnan}}, ref{{-1.5, -1.0, qnan}};
  const std::vector<std::int32_t> len{2};
  const auto r = rlhf::kl_loss(pol, ref, len, 0.1);
  CHECK(r.tokens == 2);
  CHECK(r.mean_kl == Approx(0.41240624408583926).epsilon(1e-13));
  CHECK(r.loss == Approx(0.041240624408583926).epsilon(1e-13));
  CHECK(r.grad(0, 0) == Approx(0.01967346701436833).epsilon(1e-13));
  CHECK(r.grad(0, 1) == Approx(-0.08591409142295225).epsilon(1e-13));
  CHECK(r.grad(0, 2) == 0.0);

  const auto ref2 = random_matrix(3, 4, 51);
  xt::xtensor<double, 2> pol2 = ref2 + random_matrix(3, 4, 52, 0.5);
  const std::vector<std::int32_t> len2{4, 1, 3};
  for (auto est : {rlhf::kl_estimator::k1, rlhf::kl_estimator::k2, rlhf::kl_estimator::k3}) {
    const auto res = rlhf::kl_loss(pol2, ref2, len2, 0.3, est);
    auto f = [&] { return rlhf::kl_loss(pol2, ref2, len2, 0.3, est).loss; };
    CHECK(gradcheck_valid(f, pol2, len2, res.grad) < 1e-7);
  }
  CHECK_THROWS_AS(rlhf::kl_loss(pol, ref, len, -0.1), rlhf::invalid_argument);
  const std::vector<std::int32_t> none{0};
  CHECK_THROWS_AS(rlhf::kl_loss(pol, ref, none, 0.1), rlhf::invalid_argument);
}

TEST_CASE("per-token objectives share one validation: shapes and lengths are invalid_argument, a NaN at a valid "
          "position is numerical_error naming the input and position",
          "[objective][ppo][errors]") {
  // Row 1 has one valid token; its padding holds NaN and is never read.
  const xt::xtensor<double, 2> ok{{-1.0, -2.0}, {-0.5, qnan}};
  xt::xtensor<double, 2> bad = ok;
  bad(0, 1) = qnan;
  const xt::xtensor<double, 2> narrow{{-1.0}, {-0.5}};
  const std::vector<std::int32_t> len{2, 1}, too_long{2, 3}, none{0, 0};
  const std::vector<double> scores{1.0, 2.0};
  const auto inf = std::numeric_limits<double>::infinity();

  CHECK_NOTHROW(rlhf::ppo_clip_loss(ok, ok, ok, len, 0.2));
  CHECK_NOTHROW(rlhf::clipped_value_loss(ok, ok, ok, len, 0.2));
  CHECK_NOTHROW(rlhf::kl_loss(ok, ok, len, 0.1));
  CHECK_NOTHROW(rlhf::kl_penalized_rewards(ok, ok, len, scores, 0.1));
  CHECK_NOTHROW(rlhf::whiten(ok, len));
  CHECK_NOTHROW(rlhf::gae(ok, ok, len, 1.0, 0.9));

  // True when f throws a numerical_error naming `who`, the position (0, 1) and `name = nan`.
  auto reports_nan_at_0_1 = [](auto&& f, const std::string& who, const std::string& name) {
    try {
      f();
    } catch (const rlhf::numerical_error& e) {
      const std::string m = e.what();
      return m.find(who) != std::string::npos && m.find("(0, 1)") != std::string::npos &&
             m.find(name + " = nan") != std::string::npos;
    }
    return false;
  };
  CHECK_THROWS_AS(rlhf::ppo_clip_loss(ok, ok, bad, len, 0.2), rlhf::numerical_error);
  CHECK(reports_nan_at_0_1([&] { rlhf::ppo_clip_loss(ok, ok, bad, len, 0.2); }, "ppo_clip_loss", "advantages"));
  CHECK_THROWS_AS(rlhf::clipped_value_loss(bad, ok, ok, len, 0.2), rlhf::numerical_error);
  CHECK(reports_nan_at_0_1([&] { rlhf::clipped_value_loss(ok, ok, bad, len, 0.2); }, "clipped_value_loss",
                           "returns"));
  CHECK_THROWS_AS(rlhf::kl_loss(bad, ok, len, 0.1), rlhf::numerical_error);
  CHECK(reports_nan_at_0_1([&] { rlhf::kl_loss(ok, bad, len, 0.1); }, "kl_loss", "reference_logps"));
  CHECK_THROWS_AS(rlhf::kl_penalized_rewards(bad, ok, len, scores, 0.1), rlhf::numerical_error);
  CHECK(reports_nan_at_0_1([&] { rlhf::kl_penalized_rewards(bad, ok, len, scores, 0.1); }, "kl_penalized_rewards",
                           "policy_logps"));
  CHECK_THROWS_AS(rlhf::kl_penalized_rewards(ok, ok, len, std::vector<double>{1.0, inf}, 0.1), rlhf::numerical_error);
  CHECK_THROWS_AS(rlhf::whiten(bad, len), rlhf::numerical_error);
  CHECK_THROWS_AS(rlhf::gae(bad, ok, len, 1.0, 0.9), rlhf::numerical_error);
  CHECK(reports_nan_at_0_1([&] { rlhf::gae(bad, ok, len, 1.0, 0.9); }, "gae", "rewards"));

  // The second matrix is named when its shape differs from the first's.
  CHECK_THROWS_WITH(rlhf::ppo_clip_loss(ok, ok, narrow, len, 0.2), Catch::Contains("advantages has shape (2, 1)"));
  CHECK_THROWS_WITH(rlhf::kl_loss(ok, narrow, len, 0.1), Catch::Contains("reference_logps"));
  CHECK_THROWS_WITH(rlhf::gae(ok, narrow, len, 1.0, 0.9), Catch::Contains("values"));
  CHECK_THROWS_WITH(rlhf::whiten(ok, too_long), Catch::Contains("lengths[1] = 3"));
  CHECK_THROWS_AS(rlhf::clipped_value_loss(ok, ok, ok, too_long, 0.2), rlhf::invalid_argument);
  // Means over no token are refused, naming the function.
  CHECK_THROWS_WITH(rlhf::ppo_clip_loss(ok, ok, ok, none, 0.2), Catch::Contains("ppo_clip_loss: no valid token"));
  CHECK_THROWS_WITH(rlhf::clipped_value_loss(ok, ok, ok, none, 0.2), Catch::Contains("no valid token"));
  CHECK_THROWS_WITH(rlhf::kl_loss(ok, ok, none, 0.1), Catch::Contains("no valid token"));
  CHECK_THROWS_WITH(rlhf::whiten(ok, none), Catch::Contains("whiten: no valid token"));
  CHECK_THROWS_WITH(rlhf::kl_penalized_rewards(ok, ok, none, scores, 0.1), Catch::Contains("lengths[0] = 0"));
}
