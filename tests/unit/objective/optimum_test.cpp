// SPDX-License-Identifier: MIT
// The fixed points the bandit oracle compares against: f_divergence_optimum (the closed form of
// max E r - β D_f(π‖π_ref) for any f) and grpo_stationary_point (GRPO's own fixed point).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "rlhf/objective.hpp"
#include "rlhf/objective/grpo.hpp"
#include "rlhf/objective/kl_optimum.hpp"

namespace {
const std::vector<double> ref_probs{0.1, 0.4, 0.2, 0.3};
const std::vector<double> rewards{0.7, -0.2, 0.1, 0.4};
std::vector<double> logs(const std::vector<double>& p) {
  std::vector<double> l;
  for (double x : p) l.push_back(std::log(x));
  return l;
}
double total(const std::vector<double>& logp) {
  double s = 0;
  for (double x : logp) s += std::exp(x);
  return s;
}
}  // namespace

TEST_CASE("f_divergence_optimum: reverse KL is the softmax closed form", "[objective][kl_optimum]") {
  const auto ref = logs(ref_probs);
  for (double beta : {0.1, 0.5, 2.0}) {
    const auto a = rlhf::f_divergence_optimum(ref, rewards, beta, rlhf::divergences::reverse_kl{});
    const auto b = rlhf::kl_optimum(ref, rewards, beta).log_probs;
    for (std::size_t v = 0; v < a.size(); ++v) CHECK(a[v] == Approx(b[v]).margin(1e-12));
  }
}

TEST_CASE("f_divergence_optimum: stationarity f'(π*/π_ref) = (r - λ)/β with one λ, and normalised",
          "[objective][kl_optimum]") {
  const auto ref = logs(ref_probs);
  const double beta = 0.5;
  const auto check = [&](const auto& div, const char* name) {
    INFO(name);
    const auto opt = rlhf::f_divergence_optimum(ref, rewards, beta, div);
    CHECK(total(opt) == Approx(1.0).margin(1e-12));
    // λ_v = r_v - β f'(u_v) is the same for every action.
    std::vector<double> lambda;
    for (std::size_t v = 0; v < opt.size(); ++v) lambda.push_back(rewards[v] - beta * div.f_prime_log(opt[v] - ref[v]));
    for (double l : lambda) CHECK(l == Approx(lambda[0]).margin(1e-9));
  };
  check(rlhf::divergences::reverse_kl{}, "reverse_kl");
  check(rlhf::divergences::forward_kl{}, "forward_kl");
  check(rlhf::divergences::js{}, "js");
  check(rlhf::divergences::alpha{0.5}, "alpha 0.5");
  // Forward KL in closed form: π* = π_ref β / (λ - r).
  const auto fwd = rlhf::f_divergence_optimum(ref, rewards, beta, rlhf::divergences::forward_kl{});
  const double lambda = rewards[0] + beta * ref_probs[0] / std::exp(fwd[0]);
  for (std::size_t v = 0; v < fwd.size(); ++v)
    CHECK(std::exp(fwd[v]) == Approx(ref_probs[v] * beta / (lambda - rewards[v])).epsilon(1e-9));
}

TEST_CASE("grpo_stationary_point: π A = β (π - π_ref), away from π* unless std scaling is off",
          "[objective][grpo]") {
  const auto ref = logs(ref_probs);
  const double beta = 0.5;
  const auto p = rlhf::grpo_stationary_point(ref, rewards, beta);
  CHECK(total(p) == Approx(1.0).margin(1e-12));
  double mu = 0, var = 0;
  for (std::size_t v = 0; v < p.size(); ++v) mu += std::exp(p[v]) * rewards[v];
  for (std::size_t v = 0; v < p.size(); ++v) var += std::exp(p[v]) * (rewards[v] - mu) * (rewards[v] - mu);
  const double sigma = std::sqrt(var) + rlhf::grpo_options{}.eps;
  for (std::size_t v = 0; v < p.size(); ++v) {
    const double pv = std::exp(p[v]);
    CHECK(pv * (rewards[v] - mu) / sigma == Approx(beta * (pv - ref_probs[v])).margin(1e-12));
  }
  CHECK(rlhf::kl_to_optimum(p, ref, rewards, beta) > 1e-3);
  CHECK_THROWS_AS(rlhf::grpo_stationary_point(ref, rewards, 0.0), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::grpo_stationary_point(ref, std::vector<double>{1.0}, beta), rlhf::invalid_argument);
}
