// SPDX-License-Identifier: MIT
// Preference losses (sigmoid, hinge, IPO, conservative, robust), the batch pairwise loss with
// reward centring, the k-wise ranking loss, and run-time selection (parse.hpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "rlhf/objective.hpp"
#include "support/gradcheck.hpp"

namespace {

using rlhf::test::numerical_gradient;
using rlhf::test::relative_error;

// A type that has the right members but did not opt in: the concepts must reject it.
struct untagged_loss {
  double value(double h, double = 1.0) const { return h; }
  double grad(double, double = 1.0) const { return 1.0; }
};
struct tagged_without_grad {
  using rlhf_concept = rlhf::preference_loss_tag;
  double value(double h, double = 1.0) const { return h; }
};

// Central difference of l.value at h, at fixed beta.
template <class L>
double fd(const L& l, double h, double beta, double step = 1e-6) {
  return (l.value(h + step, beta) - l.value(h - step, beta)) / (2 * step);
}

}  // namespace

TEST_CASE("the shipped preference losses model the concept; untagged or incomplete types do not",
          "[objective][preference_loss]") {
  STATIC_REQUIRE(rlhf::preference_loss<rlhf::loss::sigmoid>);
  STATIC_REQUIRE(rlhf::preference_loss<rlhf::loss::hinge>);
  STATIC_REQUIRE(rlhf::preference_loss<rlhf::loss::ipo>);
  STATIC_REQUIRE(rlhf::preference_loss<rlhf::loss::conservative>);
  STATIC_REQUIRE(rlhf::preference_loss<const rlhf::loss::robust&>);
  STATIC_REQUIRE_FALSE(rlhf::preference_loss<untagged_loss>);
  STATIC_REQUIRE_FALSE(rlhf::preference_loss<tagged_without_grad>);
  STATIC_REQUIRE_FALSE(rlhf::preference_loss<rlhf::divergences::reverse_kl>);
}

TEST_CASE("preference losses match hand-computed values", "[objective][preference_loss]") {
  SECTION("sigmoid") {
    // -log σ(0) = log 2; d/dh = -σ(0) = -1/2.
    const rlhf::loss::sigmoid s;
    CHECK(s.value(0.0) == Approx(0.6931471805599453).epsilon(1e-14));
    CHECK(s.grad(0.0) == Approx(-0.5).epsilon(1e-14));
    // Margin m = 0.5 at h = 2: softplus(-1.5) = log(1 + e^-1.5) = 0.20141327798275240,
    // d/dh = -σ(-1.5) = -1/(1 + e^1.5) = -0.18242552380635635.
    const rlhf::loss::sigmoid sm{0.5};
    CHECK(sm.value(2.0) == Approx(0.2014132779827524).epsilon(1e-13));
    CHECK(sm.grad(2.0) == Approx(-0.18242552380635635).epsilon(1e-13));
  }
  SECTION("hinge") {
    // max(0, 1 - h): 0.75 at h = 0.25 (slope -1), 0 at h = 3 (slope 0), the kink h = 1 gives 0.
    const rlhf::loss::hinge l;
    CHECK(l.value(0.25) == 0.75);
    CHECK(l.grad(0.25) == -1.0);
    CHECK(l.value(3.0) == 0.0);
    CHECK(l.grad(3.0) == 0.0);
    CHECK(l.grad(1.0) == 0.0);
  }
  SECTION("ipo") {
    // h = β x with β = 0.5, x = Δw - Δl = 3: (x - 1/(2β))² = (3 - 1)² = 4; as a function of h,
    // ((h - 1/2)/β)² = ((1.5 - 0.5)/0.5)² = 4 and dL/dh = 2 (h - 1/2)/β² = 2·1/0.25 = 8.
    const rlhf::loss::ipo l;
    CHECK(l.value(1.5, 0.5) == Approx(4.0).epsilon(1e-14));
    CHECK(l.grad(1.5, 0.5) == Approx(8.0).epsilon(1e-14));
    // Reward modelling (β = 1): (h - 1/2)², minimised at h = 1/2.
    CHECK(l.value(0.5) == 0.0);
    CHECK(l.value(2.5) == Approx(4.0));
  }
  SECTION("conservative") {
    // ε = 0.1, h = 1: 0.9 softplus(-1) + 0.1 softplus(1) = 0.9·0.31326169 + 0.1·1.31326169
    // = 0.41326168751822; d/dh = -0.9 σ(-1) + 0.1 σ(1) = -0.9·0.26894142 + 0.1·0.73105858.
    const rlhf::loss::conservative l{0.1};
    CHECK(l.value(1.0) == Approx(0.4132616875182229).epsilon(1e-13));
    CHECK(l.grad(1.0) == Approx(-0.16894142136999513).epsilon(1e-13));
  }
  SECTION("robust") {
    // ε = 0.1, h = 1: (0.9 softplus(-1) - 0.1 softplus(1)) / 0.8 = (0.28193552 - 0.13132617)/0.8
    // = 0.18826168751822; d/dh = (-0.9 σ(-1) - 0.1 σ(1)) / 0.8 = -0.39394142137.
    const rlhf::loss::robust l{0.1};
    CHECK(l.value(1.0) == Approx(0.1882616875182229).epsilon(1e-13));
    CHECK(l.grad(1.0) == Approx(-0.39394142136999505).epsilon(1e-13));
  }
}

TEST_CASE("every preference loss's grad is its derivative (central differences, double)",
          "[objective][preference_loss][gradcheck]") {
  const std::vector<double> hs{-7.3, -2.0, -0.41, 0.13, 0.77, 1.9, 6.2};  // away from the hinge kink
  const std::vector<double> betas{1.0, 0.1, 2.5};
  auto check = [&](const auto& l) {
    for (double beta : betas)
      for (double h : hs) {
        INFO("h = " << h << ", beta = " << beta);
        CHECK(l.grad(h, beta) == Approx(fd(l, h, beta)).epsilon(1e-7).margin(1e-9));
      }
  };
  check(rlhf::loss::sigmoid{});
  check(rlhf::loss::sigmoid{1.25});
  check(rlhf::loss::hinge{});
  check(rlhf::loss::ipo{});
  check(rlhf::loss::conservative{0.2});
  check(rlhf::loss::robust{0.3});
}

TEST_CASE("preference losses are finite at margins of +-1e4", "[objective][preference_loss][stability]") {
  auto check = [](const auto& l, const char* name) {
    for (double h : {-1e4, 1e4, -1e300, 1e300}) {
      INFO(name << " at h = " << h);
      CHECK(std::isfinite(l.value(h, 1.0)));
      CHECK(std::isfinite(l.grad(h, 1.0)));
    }
  };
  check(rlhf::loss::sigmoid{}, "sigmoid");
  check(rlhf::loss::sigmoid{3.0}, "sigmoid with margin");
  check(rlhf::loss::hinge{}, "hinge");
  check(rlhf::loss::conservative{0.25}, "conservative");
  check(rlhf::loss::robust{0.25}, "robust");
  // IPO is a square: finite at ±1e4 (1e300 would square to inf, as the formula says).
  CHECK(std::isfinite(rlhf::loss::ipo{}.value(-1e4, 0.1)));
  CHECK(std::isfinite(rlhf::loss::ipo{}.grad(1e4, 0.1)));
  // The limits are the exact ones: -log σ(-1e4) = 1e4, -log σ(1e4) = 0; gradients -1 and 0.
  const rlhf::loss::sigmoid s;
  CHECK(s.value(-1e4) == Approx(1e4).epsilon(1e-15));
  CHECK(s.value(1e4) == 0.0);
  CHECK(s.grad(-1e4) == -1.0);
  CHECK(s.grad(1e4) == 0.0);
}

TEST_CASE("robust with epsilon = 0 and conservative with epsilon = 0 are exactly sigmoid",
          "[objective][preference_loss]") {
  const rlhf::loss::sigmoid s;
  const rlhf::loss::robust r{0.0};
  const rlhf::loss::conservative c{0.0};
  for (double h : {-1e4, -3.0, -0.5, 0.0, 0.7, 4.0, 1e4}) {
    CHECK(r.value(h) == s.value(h));
    CHECK(r.grad(h) == s.grad(h));
    CHECK(c.value(h) == s.value(h));
    CHECK(c.grad(h) == s.grad(h));
  }
}

TEST_CASE("conservative loss is minimised at h* = log((1-eps)/eps)", "[objective][preference_loss]") {
  const double eps = 0.2;
  const rlhf::loss::conservative c{eps};
  CHECK(c.grad(std::log((1 - eps) / eps)) == Approx(0.0).margin(1e-15));
}

TEST_CASE("preference losses reject bad hyperparameters and NaN margins", "[objective][preference_loss][errors]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(rlhf::loss::conservative{0.5}, rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::loss::conservative{-0.01}, rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::loss::robust{0.5}, rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::loss::robust{nan}, rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::loss::sigmoid{nan}, rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::loss::hinge{std::numeric_limits<double>::infinity()}, rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::loss::ipo{}.value(1.0, 0.0), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::loss::ipo{}.grad(1.0, -1.0), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::loss::sigmoid{}.value(nan), rlhf::numerical_error);
  CHECK_THROWS_AS(rlhf::loss::robust{}.grad(nan), rlhf::numerical_error);
  CHECK_THROWS_WITH(rlhf::loss::conservative{0.7}, Catch::Contains("epsilon") && Catch::Contains("[0, 0.5)"));
}

TEST_CASE("pairwise_loss: hand-computed batch with reward centring", "[objective][pairwise]") {
  // r+ = {1, 0.5, -1}, r- = {0, 1, -1}, λ = 0.1; h = {1, -0.5, 0}, r+ + r- = {1, 1.5, -2}.
  // preference part: (softplus(-1) + softplus(0.5) + log 2)/3 = (0.31326 + 0.97408 + 0.69315)/3
  //                = 0.66016195075276;
  // centring part:   0.1 (1 + 2.25 + 4)/3 = 0.24166666666667.
  // ∂/∂r+_i = (-σ(-h_i) + 2λ(r+_i + r-_i))/3, ∂/∂r-_i = (σ(-h_i) + 2λ(r+_i + r-_i))/3;
  // e.g. pair 3: (-0.5 - 0.4)/3 = -0.3 and (0.5 - 0.4)/3 = 1/30.
  const std::vector<double> chosen{1.0, 0.5, -1.0}, rejected{0.0, 1.0, -1.0};
  const auto r = rlhf::pairwise_loss(chosen, rejected, rlhf::loss::sigmoid{}, {.center_coef = 0.1});
  CHECK(r.preference_loss == Approx(0.6601619507527583).epsilon(1e-13));
  CHECK(r.centering_loss == Approx(0.2416666666666667).epsilon(1e-13));
  CHECK(r.loss == Approx(0.901828617419425).epsilon(1e-13));
  const std::vector<double> gc{-0.022980473789998363, -0.10748644373395151, -0.3};
  const std::vector<double> gr{0.1563138071233317, 0.30748644373395156, 0.033333333333333326};
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(r.grad_chosen[i] == Approx(gc[i]).epsilon(1e-12));
    CHECK(r.grad_rejected[i] == Approx(gr[i]).epsilon(1e-12));
  }
  // Only pair 1 has r+ > r- (pair 3 is a tie, counted as wrong).
  CHECK(r.accuracy == Approx(1.0 / 3.0));
  CHECK(r.mean_margin == Approx(0.5 / 3.0));
}

TEST_CASE("pairwise_loss gradients match central differences for every loss, float and double inputs",
          "[objective][pairwise][gradcheck]") {
  std::vector<double> x = rlhf::test::random_vector(10, 42, 1.5);  // 5 pairs: x[0..4] chosen, x[5..9] rejected
  auto run = [&](const auto& l, double lambda) {
    auto f = [&] {
      return rlhf::pairwise_loss(rlhf::real_span(x.data(), 5), rlhf::real_span(x.data() + 5, 5), l,
                                 {.center_coef = lambda})
          .loss;
    };
    const auto r = rlhf::pairwise_loss(rlhf::real_span(x.data(), 5), rlhf::real_span(x.data() + 5, 5), l,
                                       {.center_coef = lambda});
    std::vector<double> analytic(r.grad_chosen);
    analytic.insert(analytic.end(), r.grad_rejected.begin(), r.grad_rejected.end());
    const auto numeric = numerical_gradient(f, std::span<double>(x));
    CHECK(relative_error(analytic, numeric) < 1e-7);
  };
  run(rlhf::loss::sigmoid{}, 0.0);
  run(rlhf::loss::sigmoid{0.3}, 0.05);
  run(rlhf::loss::hinge{0.2}, 0.01);
  run(rlhf::loss::ipo{}, 0.0);
  run(rlhf::loss::conservative{0.1}, 0.2);
  run(rlhf::loss::robust{0.2}, 0.1);

  // float inputs are read exactly (as double).
  const std::vector<float> cf{0.5f, -1.25f}, rf{0.25f, 2.0f};
  const std::vector<double> cd{0.5, -1.25}, rd{0.25, 2.0};
  CHECK(rlhf::pairwise_loss(cf, rf).loss == rlhf::pairwise_loss(cd, rd).loss);
}

TEST_CASE("pairwise_loss rejects bad input", "[objective][pairwise][errors]") {
  const std::vector<double> a{1.0, 2.0}, b{0.0}, empty;
  const std::vector<double> nan{1.0, std::numeric_limits<double>::quiet_NaN()};
  CHECK_THROWS_AS(rlhf::pairwise_loss(a, b), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::pairwise_loss(empty, empty), rlhf::invalid_argument);
  CHECK_THROWS_WITH(rlhf::pairwise_loss(a, nan), Catch::Contains("rejected rewards[1]"));
  CHECK_THROWS_AS(rlhf::pairwise_loss(a, a, rlhf::loss::sigmoid{}, {.center_coef = -1.0}), rlhf::invalid_argument);
}

TEST_CASE("ranking_loss: hand-computed k = 3 with a tie", "[objective][ranking]") {
  // r = {2, 1, 0}, tie (2, 1): used pairs (0,1) h = 1 and (0,2) h = 2, C = 2.
  // L = (softplus(-1) + softplus(-2))/2 = (0.31326169 + 0.12692801)/2 = 0.22009484928060;
  // ∂/∂r0 = (-σ(-1) - σ(-2))/2, ∂/∂r1 = σ(-1)/2, ∂/∂r2 = σ(-2)/2.
  const std::vector<double> r{2.0, 1.0, 0.0};
  const std::vector<rlhf::tie_pair> ties{{2, 1}};
  const auto res = rlhf::ranking_loss(r, ties);
  CHECK(res.pairs_used == 2);
  CHECK(res.loss == Approx(0.2200948492805977).epsilon(1e-13));
  CHECK(res.grad[0] == Approx(-0.19407217169605634).epsilon(1e-13));
  CHECK(res.grad[1] == Approx(0.13447071068499755).epsilon(1e-13));
  CHECK(res.grad[2] == Approx(0.05960146101105877).epsilon(1e-13));
  CHECK(res.accuracy == 1.0);
  // Without the tie all C(3,2) = 3 pairs count, including (1,2) with h = 1.
  const auto all = rlhf::ranking_loss(r);
  CHECK(all.pairs_used == 3);
  CHECK(all.loss == Approx((2 * rlhf::math::softplus(-1.0) + rlhf::math::softplus(-2.0)) / 3).epsilon(1e-14));
}

TEST_CASE("ranking_loss with k = 2 equals the pairwise loss of one pair, for any loss", "[objective][ranking]") {
  const std::vector<double> r{0.3, 1.1};
  auto check = [&](const auto& l) {
    const auto k = rlhf::ranking_loss(r, {}, l);
    const auto p = rlhf::pairwise_loss(std::vector<double>{0.3}, std::vector<double>{1.1}, l);
    CHECK(k.loss == p.loss);
    CHECK(k.grad[0] == p.grad_chosen[0]);
    CHECK(k.grad[1] == p.grad_rejected[0]);
    CHECK(k.accuracy == p.accuracy);
  };
  check(rlhf::loss::sigmoid{});
  check(rlhf::loss::hinge{});
  check(rlhf::loss::ipo{});
  check(rlhf::loss::robust{0.1});
}

TEST_CASE("ranking_loss gradient matches central differences; all-tied rankings contribute nothing",
          "[objective][ranking][gradcheck]") {
  std::vector<double> r = rlhf::test::random_vector(5, 7, 2.0);
  const std::vector<rlhf::tie_pair> ties{{0, 3}, {4, 2}};
  auto check = [&](const auto& l) {
    auto f = [&] { return rlhf::ranking_loss(r, ties, l).loss; };
    const auto res = rlhf::ranking_loss(r, ties, l);
    CHECK(res.pairs_used == 8);  // C(5,2) = 10 minus 2 ties
    CHECK(relative_error(res.grad, numerical_gradient(f, std::span<double>(r))) < 1e-7);
  };
  check(rlhf::loss::sigmoid{});
  check(rlhf::loss::conservative{0.15});
  check(rlhf::loss::ipo{});

  const std::vector<rlhf::tie_pair> all{{0, 1}};
  const auto none = rlhf::ranking_loss(std::vector<double>{1.0, 2.0}, all);
  CHECK(none.pairs_used == 0);
  CHECK(none.loss == 0.0);
  CHECK(none.grad == std::vector<double>{0.0, 0.0});
}

TEST_CASE("ranking_loss rejects bad input", "[objective][ranking][errors]") {
  const std::vector<double> one{1.0}, three{1.0, 0.0, -1.0};
  CHECK_THROWS_AS(rlhf::ranking_loss(one), rlhf::invalid_argument);
  const std::vector<rlhf::tie_pair> out_of_range{{0, 3}}, self{{1, 1}};
  CHECK_THROWS_WITH(rlhf::ranking_loss(three, out_of_range), Catch::Contains("ties[0]"));
  CHECK_THROWS_AS(rlhf::ranking_loss(three, self), rlhf::invalid_argument);
  const std::vector<double> inf{1.0, std::numeric_limits<double>::infinity()};
  CHECK_THROWS_AS(rlhf::ranking_loss(inf), rlhf::numerical_error);
}

TEST_CASE("parse_preference_loss and parse_divergence build the named policies", "[objective][parse]") {
  CHECK(std::holds_alternative<rlhf::loss::ipo>(rlhf::parse_preference_loss("ipo")));
  const auto r = rlhf::parse_preference_loss("robust", 0.2);
  REQUIRE(std::holds_alternative<rlhf::loss::robust>(r));
  CHECK(std::get<rlhf::loss::robust>(r).epsilon() == 0.2);
  CHECK(std::get<rlhf::loss::hinge>(rlhf::parse_preference_loss("hinge")).margin() == 1.0);
  CHECK_THROWS_WITH(rlhf::parse_preference_loss("dpo"), Catch::Contains("sigmoid, hinge, ipo"));
  CHECK_THROWS_AS(rlhf::parse_preference_loss("conservative", 0.6), rlhf::invalid_argument);

  const auto a = rlhf::parse_divergence("alpha:0.25");
  REQUIRE(std::holds_alternative<rlhf::divergences::alpha>(a));
  CHECK(std::get<rlhf::divergences::alpha>(a).order() == 0.25);
  CHECK(std::holds_alternative<rlhf::divergences::js>(rlhf::parse_divergence("js")));
  CHECK_THROWS_AS(rlhf::parse_divergence("alpha:"), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::parse_divergence("alpha:1"), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::parse_divergence("alpha:0.5x"), rlhf::invalid_argument);
  CHECK_THROWS_WITH(rlhf::parse_divergence("kl"), Catch::Contains("reverse_kl, forward_kl, js or alpha:A"));
  // A variant dispatches to the statically typed loss.
  const double h = std::visit([](const auto& l) { return l.value(0.0, 1.0); }, rlhf::parse_preference_loss("sigmoid"));
  CHECK(h == Approx(std::log(2.0)));
}
