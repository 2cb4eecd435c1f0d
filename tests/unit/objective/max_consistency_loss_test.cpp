// SPDX-License-Identifier: MIT
// FaRMA's max-consistency loss L2.
#include <catch2/catch.hpp>

#include <limits>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/objective.hpp"
#include "support/gradcheck.hpp"

TEST_CASE("max_consistency_loss: hand-computed, ties go to the lowest index", "[objective][farma]") {
  // r = (1, 0); R row 0 = (0, 3, 3): max 3 at index 1 (tie with 2 → lowest); row 1 = (-1, -2, -0.5):
  // max -0.5 at index 2. Differences r - max = (-2, 0.5):
  // L = ½ (4 + 0.25)/2 = 1.0625; ∂/∂r = (-2, 0.5)/2 = (-1, 0.25); ∂/∂R[argmax] = (1, -0.25).
  const std::vector<double> r{1.0, 0.0};
  const xt::xtensor<double, 2> big_r{{0.0, 3.0, 3.0}, {-1.0, -2.0, -0.5}};
  const auto res = rlhf::max_consistency_loss(r, big_r);
  CHECK(res.loss == Approx(1.0625).epsilon(1e-15));
  CHECK(res.argmax == std::vector<rlhf::index_t>{1, 2});
  CHECK(res.grad_reward[0] == Approx(-1.0));
  CHECK(res.grad_reward[1] == Approx(0.25));
  CHECK(res.grad_max[0] == Approx(1.0));
  CHECK(res.grad_max[1] == Approx(-0.25));
  std::vector<float> dense(6, 0.5f);  // accumulates (+=) into an existing gradient
  res.accumulate_grad_tokens(std::span<float>(dense), 3);
  CHECK(dense == std::vector<float>{0.5f, 1.5f, 0.5f, 0.5f, 0.5f, 0.25f});
  std::vector<double> wrong(5);
  CHECK_THROWS_AS(res.accumulate_grad_tokens(std::span<double>(wrong), 3), rlhf::invalid_argument);

  // Stop-gradient on either side zeroes only that side.
  const auto sr = rlhf::max_consistency_loss(r, big_r, {.stop_gradient_reward = true});
  CHECK(sr.loss == res.loss);
  CHECK(sr.grad_reward == std::vector<double>{0.0, 0.0});
  CHECK(sr.grad_max == res.grad_max);
  const auto sm = rlhf::max_consistency_loss(r, big_r, {.stop_gradient_max = true});
  CHECK(sm.grad_max == std::vector<double>{0.0, 0.0});
  CHECK(sm.grad_reward == res.grad_reward);
}

TEST_CASE("max_consistency_loss gradients match central differences w.r.t. r and every entry of R",
          "[objective][farma][gradcheck]") {
  const std::size_t n = 4, v = 5;
  std::vector<double> x = rlhf::test::random_vector(n + n * v, 77, 1.0);  // r then R, row-major
  auto run = [&] {
    return rlhf::max_consistency_loss(rlhf::real_span(x.data(), n),
                                      rlhf::real_matrix(rlhf::real_span(x.data() + n, n * v), n, v));
  };
  const auto res = run();
  std::vector<double> analytic(n + n * v, 0.0);
  for (std::size_t i = 0; i < n; ++i) analytic[i] = res.grad_reward[i];
  res.accumulate_grad_tokens(std::span<double>(analytic.data() + n, n * v), static_cast<rlhf::index_t>(v));
  const auto numeric = rlhf::test::numerical_gradient([&] { return run().loss; }, std::span<double>(x));
  CHECK(rlhf::test::relative_error(analytic, numeric) < 1e-7);
}

TEST_CASE("max_consistency_loss rejects bad input", "[objective][farma][errors]") {
  const std::vector<double> r{1.0, 0.0}, empty;
  const xt::xtensor<double, 2> one_row{{0.0, 1.0}};
  const xt::xtensor<double, 2> two_rows{{0.0, 1.0}, {std::numeric_limits<double>::quiet_NaN(), 0.0}};
  CHECK_THROWS_WITH(rlhf::max_consistency_loss(r, one_row), Catch::Contains("token_rewards"));
  CHECK_THROWS_AS(rlhf::max_consistency_loss(r, two_rows), rlhf::numerical_error);  // a NaN model output
  CHECK_THROWS_AS(rlhf::max_consistency_loss(empty, one_row), rlhf::invalid_argument);
}
