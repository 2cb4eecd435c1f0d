// SPDX-License-Identifier: MIT
// response_view: gather / sums from sequence-aligned (B, T) outputs to response-aligned numbers,
// and their adjoints scatter / scatter_sums back to the d_output a model's backward takes.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "rlhf/data/collate.hpp"
#include "rlhf/data/response_view.hpp"
#include "rlhf/objective/dpo_loss.hpp"
#include "rlhf/objective/kl_loss.hpp"
#include "support/gradcheck.hpp"

namespace data = rlhf::data;
using rlhf::index_t;
using data::response_alignment;
using ids = std::vector<rlhf::token_id>;
using Catch::Matchers::Contains;

namespace {

// Row 0: prompt (1, 2), response (3, 4, 5): length 5, response at positions 2..4.
// Row 1: prompt (6), response (7): length 2, response at position 1.
// Row 2: prompt (8, 9, 10), no response: length 3.
// T = 5, R = 3, 4 response tokens in all.
rlhf::token_batch three_rows() {
  static const ids p0{1, 2}, r0{3, 4, 5}, p1{6}, r1{7}, p2{8, 9, 10};
  const std::vector<data::sequence_pair> rows{{p0, r0}, {p1, r1}, {p2, {}}};
  return data::collate(rows, {.pad_id = 0});
}

xt::xtensor<double, 2> random_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  const auto v = rlhf::test::random_vector(rows * cols, seed);
  xt::xtensor<double, 2> m = xt::zeros<double>({rows, cols});
  std::copy(v.begin(), v.end(), m.begin());
  return m;
}

template <class A, class B>
double dot(const A& a, const B& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a.data()[i]) * static_cast<double>(b.data()[i]);
  return s;
}

double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

TEST_CASE("response_view finds each row's response and its positions", "[data][response_view]") {
  const auto batch = three_rows();
  const data::response_view v(batch);
  CHECK(v.rows() == 3);
  CHECK(v.cols() == 5);
  CHECK(v.max_length() == 3);
  CHECK(v.total() == 4);
  CHECK(std::vector<std::int32_t>(v.lengths().begin(), v.lengths().end()) == std::vector<std::int32_t>{3, 1, 0});
  CHECK(v.start(0) == 2);
  CHECK(v.start(1) == 1);
  CHECK(v.start(2) == 3);  // an empty response starts where one would be appended
  CHECK(v.alignment() == response_alignment::token);
  CHECK(v.position(0, 2) == 4);
  const auto before = v.with_alignment(response_alignment::before_token);
  CHECK(before.alignment() == response_alignment::before_token);
  CHECK(before.position(0, 0) == 1);  // the last prompt token
  CHECK(before.position(1, 0) == 0);
  CHECK(before.start(0) == 2);        // start is the token's position whatever the alignment
  CHECK_THROWS_WITH(v.start(3), Contains("row 3") && Contains("[0, 3)"));
  CHECK_THROWS_AS(v.length(-1), rlhf::invalid_argument);
  // The lengths serve directly as an objective's length_span.
  const rlhf::length_span ls(v.lengths());
  CHECK(ls.size() == 3);
  CHECK(ls[0] == 3);
}

TEST_CASE("gather reads each response token's position; before_token reads the one before", "[data][response_view]") {
  const auto batch = three_rows();
  xt::xtensor<float, 2> out = xt::zeros<float>({3, 5});
  for (std::size_t b = 0; b < 3; ++b)
    for (std::size_t t = 0; t < 5; ++t) out(b, t) = static_cast<float>(10 * b + t);

  const auto g = data::response_view(batch).gather(out);
  REQUIRE(g.shape(0) == 3);
  REQUIRE(g.shape(1) == 3);
  CHECK((g == xt::xtensor<double, 2>{{2, 3, 4}, {11, 0, 0}, {0, 0, 0}}));
  const auto gb = data::response_view(batch, response_alignment::before_token).gather(out);
  CHECK((gb == xt::xtensor<double, 2>{{1, 2, 3}, {10, 0, 0}, {0, 0, 0}}));

  const xt::xtensor<double, 2> outd = xt::cast<double>(out);
  CHECK((data::response_view(batch).gather(outd) == g));  // float and double outputs alike
}

TEST_CASE("gather and scatter are exact adjoints, for both alignments", "[data][response_view]") {
  const auto batch = three_rows();
  for (auto a : {response_alignment::token, response_alignment::before_token}) {
    const data::response_view v(batch, a);
    const auto x = random_matrix(3, 5, 1);
    // y is nonzero past each row's length too: scatter must ignore those entries.
    const auto y = random_matrix(3, 3, 2);
    const auto sy = v.scatter<double>(y);
    CHECK(dot(v.gather(x), y) == dot(x, sy));  // bit-exact: the same products, summed in the same order
    // scatter is zero off the responses: prompt tokens (row 2 entirely) and padding.
    CHECK(sy(2, 0) == 0.0);
    CHECK(sy(2, 4) == 0.0);
    CHECK(sy(1, a == response_alignment::token ? 0 : 1) == 0.0);
    CHECK(sy(1, a == response_alignment::token ? 1 : 0) == y(1, 0));

    // float (the model's type): with values a float holds exactly, the identity is still exact.
    xt::xtensor<float, 2> xf = xt::zeros<float>({3, 5});
    for (std::size_t i = 0; i < xf.size(); ++i) xf.data()[i] = static_cast<float>(static_cast<int>(i % 7) - 3);
    xt::xtensor<double, 2> yi = xt::zeros<double>({3, 3});
    for (std::size_t i = 0; i < yi.size(); ++i) yi.data()[i] = static_cast<double>(static_cast<int>(i % 5) - 2) / 4;
    const xt::xtensor<float, 2> syf = v.scatter(yi);  // float is the default d_output type
    CHECK(dot(v.gather(xf), yi) == dot(xf, syf));
  }
}

TEST_CASE("sums and scatter_sums, with and without length normalisation", "[data][response_view]") {
  const auto batch = three_rows();
  const data::response_view v(batch);
  xt::xtensor<double, 2> x = random_matrix(3, 5, 3);
  const auto g = v.gather(x);

  const auto s = v.sums(x);
  CHECK(s(0) == g(0, 0) + g(0, 1) + g(0, 2));
  CHECK(s(1) == g(1, 0));
  CHECK(s(2) == 0.0);  // empty response
  const auto m = v.sums(x, true);
  CHECK(m(0) == Approx(s(0) / 3).epsilon(1e-15));
  CHECK(m(1) == s(1));
  CHECK(m(2) == 0.0);  // the mean of nothing is 0, not NaN

  // scatter_sums is the adjoint of sums: ⟨sums(x), w⟩ = ⟨x, scatter_sums(w)⟩.
  const std::vector<double> w{0.5, -2.0, 7.0};
  for (bool normalised : {false, true}) {
    const auto sw = v.scatter_sums<double>(w, normalised);
    CHECK(dot(v.sums(x, normalised), w) == Approx(dot(x, sw)).epsilon(1e-14));
    CHECK(sw(0, 1) == 0.0);  // prompt
    CHECK(sw(0, 3) == (normalised ? 0.5 / 3 : 0.5));
    CHECK(sw(1, 1) == -2.0);
    CHECK(sw(1, 2) == 0.0);  // padding
    for (std::size_t t = 0; t < 5; ++t) CHECK(sw(2, t) == 0.0);
  }

  // Finite differences of a nonlinear loss of the sums: f(x) = Σ_b c_b softplus(sums(x)_b),
  // df/dx = scatter_sums(c_b σ(sums_b)).
  const std::vector<double> c{1.0, -0.5, 2.0};
  for (bool normalised : {false, true}) {
    INFO("length_normalised = " << normalised);
    auto f = [&] {
      const auto sx = v.sums(x, normalised);
      double r = 0.0;
      for (std::size_t b = 0; b < 3; ++b) r += c[b] * softplus(sx(b));
      return r;
    };
    const auto sx = v.sums(x, normalised);
    std::vector<double> d_rows(3);
    for (std::size_t b = 0; b < 3; ++b) d_rows[b] = c[b] * sigmoid(sx(b));
    const auto analytic = v.scatter_sums<double>(d_rows, normalised);
    const auto numeric = rlhf::test::numerical_gradient(f, std::span<double>(x.data(), x.size()));
    CHECK(rlhf::test::relative_error(std::span<const double>(analytic.data(), analytic.size()), numeric) < 1e-8);
  }
}

TEST_CASE("scatter_add and scatter_sums_add accumulate two terms in one buffer", "[data][response_view]") {
  const auto batch = three_rows();
  const data::response_view v(batch), vb(batch, response_alignment::before_token);
  const auto y = random_matrix(3, 3, 4);
  const std::vector<double> w{1.0, 2.0, 3.0};
  xt::xtensor<float, 2> d = xt::zeros<float>({3, 5});
  v.scatter_add(d, y);
  v.scatter_sums_add(d, w, true);
  const xt::xtensor<float, 2> want = v.scatter(y) + v.scatter_sums(w, true);
  CHECK((d == want));
  // Two alignments into one buffer (e.g. a policy and a value head sharing a trunk).
  xt::xtensor<double, 2> d2 = xt::zeros<double>({3, 5});
  v.scatter_add(d2, y);
  vb.scatter_add(d2, y);
  CHECK(d2(0, 1) == y(0, 0));           // before_token only
  CHECK(d2(0, 2) == y(0, 0) + y(0, 1));  // both
  CHECK(d2(0, 4) == y(0, 2));           // token only
}

TEST_CASE("response_view composes with the objectives: gradients through gather and sums", "[data][response_view]") {
  const auto batch = three_rows();
  const data::response_view v(batch);
  // Token level: kl_loss on gathered log-probs; its (B, R) gradient scattered back is the
  // gradient w.r.t. the (B, T) model output.
  xt::xtensor<double, 2> logp = random_matrix(3, 5, 5);
  const auto ref = random_matrix(3, 5, 6);
  const auto ref_r = v.gather(ref);
  auto loss = [&] { return rlhf::kl_loss(v.gather(logp), ref_r, v.lengths(), 0.3).loss; };
  const auto r = rlhf::kl_loss(v.gather(logp), ref_r, v.lengths(), 0.3);
  CHECK(r.tokens == v.total());
  const auto analytic = v.scatter<double>(r.grad);
  const auto numeric = rlhf::test::numerical_gradient(loss, std::span<double>(logp.data(), logp.size()));
  CHECK(rlhf::test::relative_error(std::span<const double>(analytic.data(), analytic.size()), numeric) < 1e-8);

  // Sequence level: DPO on sums (rows 0 and 1 as chosen / rejected of one pair).
  auto dpo = [&] {
    const auto s = v.sums(logp), s_ref = v.sums(ref);
    return rlhf::dpo_loss({std::vector<double>{s(0)}, std::vector<double>{s(1)}, std::vector<double>{s_ref(0)},
                           std::vector<double>{s_ref(1)}},
                          0.5);
  };
  const auto d = dpo();
  const std::vector<double> d_rows{d.grad_chosen[0], d.grad_rejected[0], 0.0};
  const auto analytic_dpo = v.scatter_sums<double>(d_rows);
  const auto numeric_dpo =
      rlhf::test::numerical_gradient([&] { return dpo().loss; }, std::span<double>(logp.data(), logp.size()));
  CHECK(rlhf::test::relative_error(std::span<const double>(analytic_dpo.data(), analytic_dpo.size()), numeric_dpo) <
        1e-8);
}

TEST_CASE("response_view with empty responses: zeros in, zeros out, never NaN", "[data][response_view]") {
  static const ids p0{1, 2}, p1{3};
  const std::vector<data::sequence_pair> rows{{p0, {}}, {p1, {}}};
  const auto batch = data::collate(rows);
  const data::response_view v(batch, response_alignment::before_token);
  CHECK(v.max_length() == 0);
  CHECK(v.total() == 0);
  const xt::xtensor<float, 2> x{{1.f, 2.f}, {3.f, 4.f}};
  const auto g = v.gather(x);
  CHECK(g.shape(0) == 2);
  CHECK(g.shape(1) == 0);
  CHECK((v.sums(x, true) == xt::xtensor<double, 1>{0.0, 0.0}));
  const xt::xtensor<double, 2> none = xt::zeros<double>({2, 0});
  CHECK((v.scatter(none) == xt::zeros<float>({2, 2})));
  CHECK((v.scatter_sums(std::vector<double>{1.0, 1.0}, true) == xt::zeros<float>({2, 2})));
}

TEST_CASE("response_view rejects malformed batches naming the row", "[data][response_view][errors]") {
  auto batch = three_rows();
  SECTION("a response token at position 0") {
    batch.response_mask(1, 0) = 1;
    CHECK_THROWS_AS(data::response_view(batch), rlhf::invalid_argument);
    CHECK_THROWS_WITH(data::response_view(batch), Contains("row 1") && Contains("prompt token first"));
  }
  SECTION("a response in two pieces") {
    batch.response_mask(0, 3) = 0;
    CHECK_THROWS_WITH(data::response_view(batch), Contains("row 0") && Contains("2..2 and again at 4") &&
                                                      Contains("contiguous"));
  }
  SECTION("a response token in the padding") {
    batch.response_mask(1, 3) = 1;
    CHECK_THROWS_WITH(data::response_view(batch), Contains("row 1") && Contains("position 3") && Contains("padding"));
  }
  SECTION("lengths that do not match the tokens") {
    batch.lengths = xt::xtensor<std::int32_t, 1>{5, 2};
    CHECK_THROWS_WITH(data::response_view(batch), Contains("batch.lengths has 2 entries for 3 rows"));
    batch.lengths = xt::xtensor<std::int32_t, 1>{5, 6, 3};
    CHECK_THROWS_WITH(data::response_view(batch), Contains("batch.lengths(1) = 6") && Contains("[0, 5]"));
  }
  SECTION("a mask of another shape") {
    batch.response_mask = xt::zeros<std::uint8_t>({3, 4});
    CHECK_THROWS_WITH(data::response_view(batch), Contains("response_mask has shape (3, 4)") && Contains("(3, 5)"));
  }
}

TEST_CASE("response_view rejects outputs and gradients of the wrong shape", "[data][response_view][errors]") {
  const auto batch = three_rows();
  const data::response_view v(batch);
  const xt::xtensor<float, 2> wide = xt::zeros<float>({3, 6}), short_rows = xt::zeros<float>({2, 5});
  CHECK_THROWS_AS(v.gather(wide), rlhf::invalid_argument);
  CHECK_THROWS_WITH(v.gather(wide), Contains("gather: per_token has shape (3, 6) where (3, 5) is required"));
  CHECK_THROWS_WITH(v.sums(short_rows), Contains("sums: per_token has shape (2, 5)"));
  const xt::xtensor<double, 2> d_wrong = xt::zeros<double>({3, 5});
  CHECK_THROWS_WITH(v.scatter(d_wrong), Contains("d_response has shape (3, 5) where (3, 3) is required") &&
                                            Contains("max_length"));
  CHECK_THROWS_WITH(v.scatter_sums(std::vector<double>{1.0, 2.0}), Contains("d_rows has 2 entries for 3 rows"));
  xt::xtensor<float, 2> buffer = xt::zeros<float>({3, 4});
  const xt::xtensor<double, 2> d_ok = xt::zeros<double>({3, 3});
  CHECK_THROWS_WITH(v.scatter_add(buffer, d_ok), Contains("d_per_token has shape (3, 4)"));
  CHECK_THROWS_AS(v.scatter_sums_add(buffer, std::vector<double>{1.0, 2.0, 3.0}), rlhf::invalid_argument);
}
