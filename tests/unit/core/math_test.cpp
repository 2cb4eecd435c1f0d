#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/core/math.hpp"
#include "rlhf/core/view.hpp"

using Catch::Matchers::WithinRel;
using Catch::Matchers::WithinAbs;

TEST_CASE("stable scalar math is exact in the middle and finite at the margins", "[core][math]") {
  namespace m = rlhf::math;
  CHECK_THAT(m::softplus(0.0), WithinRel(std::log(2.0), 1e-15));
  CHECK_THAT(m::softplus(1.5), WithinRel(std::log1p(std::exp(1.5)), 1e-15));
  CHECK(m::softplus(1e4) == 1e4);
  CHECK(m::softplus(-1e4) == 0.0);
  CHECK(m::log_sigmoid(1e4) == 0.0);
  CHECK(m::log_sigmoid(-1e4) == -1e4);
  CHECK_THAT(m::log_sigmoid(-2.0), WithinRel(std::log(1 / (1 + std::exp(2.0))), 1e-14));
  CHECK(m::sigmoid(-1e4) == 0.0);
  CHECK(m::sigmoid(1e4) == 1.0);
  CHECK_THAT(m::sigmoid(0.3f), WithinRel(1 / (1 + std::exp(-0.3f)), 1e-6f));
  // log1mexp on both branches, and its near-zero accuracy.
  CHECK_THAT(m::log1mexp(-0.1), WithinRel(std::log(1 - std::exp(-0.1)), 1e-13));
  CHECK_THAT(m::log1mexp(-5.0), WithinRel(std::log(1 - std::exp(-5.0)), 1e-13));
  CHECK_THAT(m::log1mexp(-1e-20), WithinRel(std::log(1e-20), 1e-12));
  CHECK(std::isnan(m::log1mexp(0.5)));
  CHECK_THAT(m::logaddexp(1e4, 1e4), WithinRel(1e4 + std::log(2.0), 1e-15));
  CHECK(m::logaddexp(-std::numeric_limits<double>::infinity(), 3.0) == 3.0);
}

TEST_CASE("logsumexp accumulates in double and handles -inf", "[core][math]") {
  const std::vector<float> x{0.0f, std::log(2.0f), std::log(3.0f)};
  CHECK_THAT(rlhf::math::logsumexp<float>(x), WithinAbs(std::log(6.0), 1e-7));
  const std::vector<float> big{1e4f, 1e4f};
  CHECK_THAT(rlhf::math::logsumexp<float>(big), WithinRel(1e4 + std::log(2.0), 1e-12));
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> allneg{-inf, -inf};
  CHECK(rlhf::math::logsumexp<float>(allneg) == -std::numeric_limits<double>::infinity());
  const std::vector<float> one{-inf, 2.0f};
  CHECK(rlhf::math::logsumexp<float>(one) == 2.0);
}

TEST_CASE("views carry shapes and report mismatches by name", "[core][view]") {
  std::vector<float> data(24);
  auto v = rlhf::host_view_of(data, {2, 3, 4});
  CHECK(v.rank() == 3);
  CHECK(v.rows() == 6);
  CHECK(v.cols() == 4);
  CHECK(v.rows_slice(1, 1).data() == data.data() + 12);
  rlhf::view<const float, rlhf::host_space> c = v;  // mutable -> const converts
  CHECK(c.size() == 24);
  CHECK_NOTHROW(rlhf::expect_shape(v.extents(), {2, 3, 4}, "x"));
  CHECK_THROWS_AS(rlhf::expect_shape(v.extents(), {2, 12}, "weight"), rlhf::invalid_argument);
  CHECK_THROWS_WITH(rlhf::expect_shape(v.extents(), {2, 12}, "weight"),
                    Catch::Contains("weight") && Catch::Contains("(2, 3, 4)") && Catch::Contains("(2, 12)"));
  CHECK_THROWS_AS(v.reshape({5, 5}), rlhf::internal_error);
}

TEST_CASE("errors form one hierarchy rooted at rlhf::error", "[core][error]") {
  CHECK_THROWS_AS(RLHF_THROW(rlhf::io_error, "file ", 3, " missing"), rlhf::error);
  CHECK_THROWS_WITH(RLHF_THROW(rlhf::format_error, "a.jsonl:", 7, ": bad"), "a.jsonl:7: bad");
  const int k = -1;
  CHECK_THROWS_AS([&] { RLHF_EXPECTS(k >= 0, "top_k must be >= 0 (got ", k, ")"); }(),
                  rlhf::invalid_argument);
  CHECK_THROWS_AS([&] { RLHF_ASSERT(k >= 0); }(), rlhf::internal_error);
}
