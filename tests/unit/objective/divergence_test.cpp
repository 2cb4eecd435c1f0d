// SPDX-License-Identifier: MIT
// Divergences (reverse KL, forward KL, JS, α), Schulman's KL estimators, and the closed-form
// KL-regularised optimum.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "rlhf/objective.hpp"
#include "support/gradcheck.hpp"

namespace {

using rlhf::test::numerical_gradient;
using rlhf::test::relative_error;

std::vector<double> logs(const std::vector<double>& p) {
  std::vector<double> l(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) l[i] = std::log(p[i]);
  return l;
}

// A normalised random row of log-probabilities (log_softmax of normal draws).
std::vector<double> random_log_probs(std::size_t v, std::uint64_t seed) {
  std::vector<double> x = rlhf::test::random_vector(v, seed, 1.5);
  const double lse = rlhf::math::logsumexp(std::span<const double>(x));
  for (double& e : x) e -= lse;
  return x;
}

struct untagged_divergence {
  double f_prime_log(double x) const { return x; }
  double f_prime_log_grad(double) const { return 1; }
  double value(rlhf::real_span, rlhf::real_span) const { return 0; }
};

}  // namespace

TEST_CASE("the shipped divergences model the concept; an untagged look-alike does not", "[objective][divergence]") {
  STATIC_REQUIRE(rlhf::divergence<rlhf::divergences::reverse_kl>);
  STATIC_REQUIRE(rlhf::divergence<rlhf::divergences::forward_kl>);
  STATIC_REQUIRE(rlhf::divergence<rlhf::divergences::js>);
  STATIC_REQUIRE(rlhf::divergence<rlhf::divergences::alpha>);
  STATIC_REQUIRE_FALSE(rlhf::divergence<untagged_divergence>);
  STATIC_REQUIRE_FALSE(rlhf::divergence<rlhf::loss::sigmoid>);
}

TEST_CASE("f' of each divergence matches the formula of ALGORITHMS.md section 4", "[objective][divergence]") {
  // reverse KL: log u + 1, so f'(e) = 2; forward KL: -1/u, f'(2) = -1/2;
  // JS: log(2u/(1+u)), f'(1) = log 1 = 0 and f'(3) = log(6/4) = 0.405465108108164;
  // α = 0.5: (1 - u^-α)/α, f'(4) = (1 - 1/2)/0.5 = 1.
  CHECK(rlhf::divergences::reverse_kl{}.f_prime_log(1.0) == 2.0);
  CHECK(rlhf::divergences::forward_kl{}.f_prime_log(std::log(2.0)) == Approx(-0.5).epsilon(1e-15));
  CHECK(rlhf::divergences::js{}.f_prime_log(0.0) == Approx(0.0).margin(1e-16));
  CHECK(rlhf::divergences::js{}.f_prime_log(std::log(3.0)) == Approx(0.4054651081081644).epsilon(1e-14));
  CHECK(rlhf::divergences::alpha{0.5}.f_prime_log(std::log(4.0)) == Approx(1.0).epsilon(1e-14));
  // Every f' vanishes... only up to its constant: reverse KL's f'(1) is 1, the others' 0.
  CHECK(rlhf::divergences::forward_kl{}.f_prime_log(0.0) == -1.0);
  CHECK(rlhf::divergences::alpha{0.3}.f_prime_log(0.0) == 0.0);
}

TEST_CASE("f_prime_log_grad is the derivative of f_prime_log", "[objective][divergence][gradcheck]") {
  auto check = [](const auto& d, const char* name) {
    for (double lu : {-6.0, -1.3, -0.2, 0.0, 0.4, 2.2, 7.5}) {
      const double h = 1e-6;
      const double numeric = (d.f_prime_log(lu + h) - d.f_prime_log(lu - h)) / (2 * h);
      INFO(name << " at log u = " << lu);
      CHECK(d.f_prime_log_grad(lu) == Approx(numeric).epsilon(1e-7).margin(1e-10));
    }
  };
  check(rlhf::divergences::reverse_kl{}, "reverse_kl");
  check(rlhf::divergences::forward_kl{}, "forward_kl");
  check(rlhf::divergences::js{}, "js");
  check(rlhf::divergences::alpha{0.5}, "alpha 0.5");
  check(rlhf::divergences::alpha{0.1}, "alpha 0.1");
  check(rlhf::divergences::alpha{-0.7}, "alpha -0.7");
}

TEST_CASE("reverse KL and JS f' are finite for sequence log-ratios of +-1e4", "[objective][divergence][stability]") {
  for (double lu : {-1e4, 1e4}) {
    CHECK(std::isfinite(rlhf::divergences::reverse_kl{}.f_prime_log(lu)));
    CHECK(std::isfinite(rlhf::divergences::js{}.f_prime_log(lu)));
    CHECK(std::isfinite(rlhf::divergences::js{}.f_prime_log_grad(lu)));
  }
  // JS saturates: f' → log 2 as u → ∞ and ≈ log u + log 2 as u → 0.
  CHECK(rlhf::divergences::js{}.f_prime_log(1e4) == Approx(std::numbers::ln2));
  CHECK(rlhf::divergences::js{}.f_prime_log(-1e4) == Approx(-1e4 + std::numbers::ln2));
  // forward KL and α are exact up to the range of double (u^-α is representable).
  CHECK(std::isfinite(rlhf::divergences::forward_kl{}.f_prime_log(-700.0)));
  CHECK(std::isfinite(rlhf::divergences::alpha{0.5}.f_prime_log(-1400.0)));
}

TEST_CASE("divergence values match hand-computed numbers", "[objective][divergence]") {
  const std::vector<double> p{0.7, 0.2, 0.1}, q{0.2, 0.3, 0.5};
  const auto lp = logs(p), lq = logs(q);
  // KL(p‖q) = 0.7 ln 3.5 + 0.2 ln(2/3) + 0.1 ln 0.2 = 0.87693 - 0.08109 - 0.16094 = 0.634897265
  CHECK(rlhf::divergences::reverse_kl{}.value(lp, lq) == Approx(0.6348972650817144).epsilon(1e-13));
  // KL(q‖p) = 0.2 ln(2/7) + 0.3 ln 1.5 + 0.5 ln 5 = -0.25055 + 0.12164 + 0.80472 = 0.675805895
  CHECK(rlhf::divergences::forward_kl{}.value(lp, lq) == Approx(0.6758058949504259).epsilon(1e-13));
  // JS (f-divergence scale) = KL(p‖m) + KL(q‖m), m = (0.45, 0.25, 0.3) = 0.302716223
  CHECK(rlhf::divergences::js{}.value(lp, lq) == Approx(0.3027162231435906).epsilon(1e-13));
  // α = 0.5: (Σ √(pq) - 1)/(α(α-1)) = 4 (1 - (√.14 + √.06 + √.05)) = 4 (1 - 0.84272150) = 0.62911396
  CHECK(rlhf::divergences::alpha{0.5}.value(lp, lq) == Approx(0.6291139571772364).epsilon(1e-13));
  // float rows are read exactly as well.
  const std::vector<float> lpf{std::log(0.5f), std::log(0.5f)}, lqf{std::log(0.25f), std::log(0.75f)};
  CHECK(rlhf::divergences::reverse_kl{}.value(lpf, lqf) ==
        Approx(0.5 * std::log(2.0) + 0.5 * std::log(0.5 / 0.75)).epsilon(1e-6));
}

TEST_CASE("D(p||p) = 0, D(p||q) >= 0, and the derivative of value w.r.t. log p is p f'(p/q)",
          "[objective][divergence][gradcheck]") {
  auto check = [](const auto& d, const char* name) {
    INFO(name);
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
      std::vector<double> lp = random_log_probs(6, seed), lq = random_log_probs(6, seed + 100);
      CHECK(d.value(lp, lp) == Approx(0.0).margin(1e-14));
      CHECK(d.value(lp, lq) > 0.0);
      // The concept's semantic link between value and f′: ∂D/∂log p_v = p_v f′(p_v/q_v), for
      // unnormalised perturbations too (the per-entry form of D_f = Σ q f(p/q)).
      std::vector<double> analytic(lp.size());
      for (std::size_t v = 0; v < lp.size(); ++v) analytic[v] = std::exp(lp[v]) * d.f_prime_log(lp[v] - lq[v]);
      const auto numeric = numerical_gradient([&] { return d.value(lp, lq); }, std::span<double>(lp));
      CHECK(relative_error(analytic, numeric) < 1e-7);
    }
  };
  check(rlhf::divergences::reverse_kl{}, "reverse_kl");
  check(rlhf::divergences::forward_kl{}, "forward_kl");
  check(rlhf::divergences::js{}, "js");
  check(rlhf::divergences::alpha{0.5}, "alpha 0.5");
  check(rlhf::divergences::alpha{2.0}, "alpha 2");
}

TEST_CASE("divergences handle zero probabilities exactly", "[objective][divergence]") {
  const double ninf = -std::numeric_limits<double>::infinity();
  const std::vector<double> p{std::log(0.5), std::log(0.5), ninf}, q{ninf, std::log(0.5), std::log(0.5)};
  const std::vector<double> half{std::log(0.5), std::log(0.5), std::log(1e-300) - 1e3};
  // p puts mass where q has none: KL(p‖q) = +inf; JS stays finite.
  CHECK(rlhf::divergences::reverse_kl{}.value(p, q) == std::numeric_limits<double>::infinity());
  CHECK(rlhf::divergences::forward_kl{}.value(p, q) == std::numeric_limits<double>::infinity());
  CHECK(rlhf::divergences::alpha{0.5}.value(p, q) == Approx(4.0 * (1.0 - 0.5)));  // BC = √(.5·.5) = .5
  // Disjoint supports give the JS maximum 2 log 2.
  const std::vector<double> a{0.0, ninf}, b{ninf, 0.0};
  CHECK(rlhf::divergences::js{}.value(a, b) == Approx(2 * std::numbers::ln2).epsilon(1e-15));
  // Zero where p is zero contributes nothing to KL(p‖q).
  const std::vector<double> p2{0.0, ninf}, q2{std::log(0.25), std::log(0.75)};
  CHECK(rlhf::divergences::reverse_kl{}.value(p2, q2) == Approx(std::log(4.0)).epsilon(1e-15));
  CHECK(std::isfinite(rlhf::divergences::js{}.value(p, half)));
}

TEST_CASE("divergences reject malformed rows and alpha in {0, 1}", "[objective][divergence][errors]") {
  const std::vector<double> a{std::log(0.5), std::log(0.5)}, b{0.0};
  const std::vector<double> nan{std::numeric_limits<double>::quiet_NaN(), 0.0};
  const std::vector<double> pinf{std::numeric_limits<double>::infinity(), 0.0};
  CHECK_THROWS_AS(rlhf::divergences::reverse_kl{}.value(a, b), rlhf::invalid_argument);
  CHECK_THROWS_WITH(rlhf::divergences::js{}.value(nan, a), Catch::Contains("logp[0]"));
  // NaN / +inf log-probs are model outputs gone wrong: numerical_error, not a bad argument.
  CHECK_THROWS_AS(rlhf::divergences::js{}.value(nan, a), rlhf::numerical_error);
  CHECK_THROWS_AS(rlhf::divergences::forward_kl{}.value(a, pinf), rlhf::numerical_error);
  CHECK_THROWS_AS(rlhf::divergences::alpha{0.0}, rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::divergences::alpha{1.0}, rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::divergences::alpha{std::numeric_limits<double>::quiet_NaN()}, rlhf::invalid_argument);
}

TEST_CASE("KL estimators k1, k2, k3: values and derivatives", "[objective][kl_estimator]") {
  using rlhf::kl_estimator;
  // ℓ = 0.5: k1 = 0.5, k2 = 0.125, k3 = e^-0.5 - 1 + 0.5 = 0.10653065971263342;
  // derivatives 1, ℓ = 0.5, 1 - e^-0.5 = 0.3934693402873666.
  CHECK(rlhf::kl_estimate(kl_estimator::k1, 0.5) == 0.5);
  CHECK(rlhf::kl_estimate(kl_estimator::k2, 0.5) == 0.125);
  CHECK(rlhf::kl_estimate(kl_estimator::k3, 0.5) == Approx(0.10653065971263342).epsilon(1e-14));
  CHECK(rlhf::kl_estimate_grad(kl_estimator::k1, 0.5) == 1.0);
  CHECK(rlhf::kl_estimate_grad(kl_estimator::k2, 0.5) == 0.5);
  CHECK(rlhf::kl_estimate_grad(kl_estimator::k3, 0.5) == Approx(0.3934693402873666).epsilon(1e-14));
  for (kl_estimator k : {kl_estimator::k1, kl_estimator::k2, kl_estimator::k3})
    for (double l : {-3.0, -0.4, 1e-9, 0.8, 5.0}) {
      const double h = 1e-6;
      const double numeric = (rlhf::kl_estimate(k, l + h) - rlhf::kl_estimate(k, l - h)) / (2 * h);
      INFO(rlhf::to_string(k) << " at " << l);
      CHECK(rlhf::kl_estimate_grad(k, l) == Approx(numeric).epsilon(1e-7).margin(1e-9));
    }
  // k3 ≥ 0 everywhere (e^x ≥ 1 + x) and is accurate near 0 (≈ ℓ²/2).
  for (double l : {-20.0, -1.0, -1e-5, 0.0, 1e-5, 1.0, 50.0, 1e4}) CHECK(rlhf::kl_estimate(kl_estimator::k3, l) >= 0.0);
  CHECK(rlhf::kl_estimate(kl_estimator::k3, 1e-6) == Approx(0.5e-12).epsilon(1e-5));
  CHECK(rlhf::parse_kl_estimator("k3") == kl_estimator::k3);
  CHECK_THROWS_WITH(rlhf::parse_kl_estimator("k4"), Catch::Contains("k1, k2 or k3"));
  CHECK_THROWS_AS(rlhf::kl_estimate(kl_estimator::k2, std::numeric_limits<double>::quiet_NaN()),
                  rlhf::numerical_error);
  CHECK_THROWS_AS(rlhf::kl_estimate_grad(kl_estimator::k3, std::numeric_limits<double>::quiet_NaN()),
                  rlhf::numerical_error);
}

TEST_CASE("k1 and k3 are unbiased: their exact expectation under pi is KL(pi || pi_ref)", "[objective][kl_estimator]") {
  using rlhf::kl_estimator;
  for (std::uint64_t seed = 11; seed <= 13; ++seed) {
    const auto lp = random_log_probs(5, seed), lr = random_log_probs(5, seed + 50);
    double e1 = 0, e2 = 0, e3 = 0;
    for (std::size_t a = 0; a < lp.size(); ++a) {
      const double pa = std::exp(lp[a]), l = lp[a] - lr[a];
      e1 += pa * rlhf::kl_estimate(kl_estimator::k1, l);
      e2 += pa * rlhf::kl_estimate(kl_estimator::k2, l);
      e3 += pa * rlhf::kl_estimate(kl_estimator::k3, l);
    }
    const double kl = rlhf::divergences::reverse_kl{}.value(lp, lr);
    CHECK(e1 == Approx(kl).epsilon(1e-12));
    CHECK(e3 == Approx(kl).epsilon(1e-12));
    CHECK(e2 > 0.0);  // k2 is biased in general, but never negative
  }
}

TEST_CASE("kl_optimum: pi* = softmax(log pi_ref + r/beta), hand-computed two-action bandit", "[objective][kl_optimum]") {
  // π_ref = (½, ½), r = (1, 0), β = 1: π* = (e, 1)/(e + 1) = (σ(1), σ(-1)),
  // log Z = log(½ e + ½) = log((e + 1)/2) = 0.620114507958...
  const std::vector<double> ref{std::log(0.5), std::log(0.5)}, r{1.0, 0.0};
  const auto opt = rlhf::kl_optimum(ref, r, 1.0);
  CHECK(std::exp(opt.log_probs[0]) == Approx(1.0 / (1.0 + std::exp(-1.0))).epsilon(1e-14));
  CHECK(std::exp(opt.log_probs[1]) == Approx(1.0 / (1.0 + std::exp(1.0))).epsilon(1e-14));
  CHECK(opt.log_partition == Approx(std::log((std::exp(1.0) + 1.0) / 2.0)).epsilon(1e-14));
  CHECK(rlhf::kl_to_optimum(opt.log_probs, ref, r, 1.0) == Approx(0.0).margin(1e-15));
  // Huge r/β neither overflows nor loses the small action: log π*(1) = -1e4 - log1p(e^-1e4) ≈ -1e4.
  const auto sharp = rlhf::kl_optimum(ref, r, 1e-4);
  CHECK(sharp.log_probs[0] == Approx(0.0).margin(1e-300));
  CHECK(sharp.log_probs[1] == Approx(-1e4).epsilon(1e-15));
}

TEST_CASE("J(pi) = beta log Z - beta KL(pi || pi*) for any pi, so pi* maximises J", "[objective][kl_optimum]") {
  const double beta = 0.7;
  const auto ref = random_log_probs(6, 21);
  const auto r = rlhf::test::random_vector(6, 22, 2.0);
  const auto opt = rlhf::kl_optimum(ref, r, beta);
  CHECK(rlhf::kl_regularized_objective(opt.log_probs, ref, r, beta) ==
        Approx(beta * opt.log_partition).epsilon(1e-12));
  for (std::uint64_t seed = 30; seed < 34; ++seed) {
    const auto pi = random_log_probs(6, seed);
    const double j = rlhf::kl_regularized_objective(pi, ref, r, beta);
    CHECK(j == Approx(beta * opt.log_partition - beta * rlhf::kl_to_optimum(pi, ref, r, beta)).epsilon(1e-12));
    CHECK(j < beta * opt.log_partition);
  }
}

TEST_CASE("kl_optimum rejects bad input", "[objective][kl_optimum][errors]") {
  const std::vector<double> ref{std::log(0.5), std::log(0.5)}, r{1.0, 0.0}, r3{1.0, 0.0, 2.0};
  CHECK_THROWS_WITH(rlhf::kl_optimum(ref, r, 0.0), Catch::Contains("beta"));
  CHECK_THROWS_AS(rlhf::kl_optimum(ref, r, -1.0), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::kl_optimum(ref, r3, 1.0), rlhf::invalid_argument);
  const std::vector<double> rn{std::numeric_limits<double>::quiet_NaN(), 0.0};
  CHECK_THROWS_AS(rlhf::kl_optimum(ref, rn, 1.0), rlhf::numerical_error);
  CHECK_THROWS_AS(rlhf::kl_optimum(rn, r, 1.0), rlhf::numerical_error);
  const double ninf = -std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(rlhf::kl_optimum(std::vector<double>{ninf, ninf}, r, 1.0), rlhf::invalid_argument);
}
