// SPDX-License-Identifier: MIT
// Forward kernels on hand-computed cases, stability at ±1e4 logits, bad input, float vs double,
// AdamW against its formula, buffers, and (Eigen) bitwise determinism across thread counts.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>

#include "backend_fixture.hpp"
#include "rlhf/backend/host_buffer.hpp"

namespace {

using namespace rlhf;
using namespace rlhf::test;

template <class T>
constexpr double eps_of() {
  return std::is_same_v<T, float> ? 1e-6 : 1e-14;
}

}  // namespace

TEST_CASE("host_buffer: aligned, zeroed, movable, explicit clone", "[backend][buffer]") {
  host_buffer<float> a(shape{3, 5});
  CHECK(a.size() == 15);
  CHECK(a.extents() == shape{3, 5});
  CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % 64 == 0);
  for (float x : a.span()) CHECK(x == 0.0f);
  a.view()[7] = 2.5f;
  host_buffer<float> b = std::move(a);
  CHECK(a.size() == 0);
  CHECK(a.view().empty());
  CHECK(b.view()[7] == 2.5f);
  host_buffer<float> c = b.clone();
  c.view()[7] = 1.0f;
  CHECK(b.view()[7] == 2.5f);
  STATIC_REQUIRE(!std::is_copy_constructible_v<host_buffer<float>>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<host_buffer<double>>);
  CHECK(host_buffer<std::int32_t>(shape{0}).view().empty());
  CHECK_THROWS_AS(host_buffer<float>(shape{2, -1}), rlhf::invalid_argument);
}

TEMPLATE_LIST_TEST_CASE("memory kernels", "[backend][memory]", backends) {
  using B = TestType;
  auto x = upload<B, float>(std::vector<double>{1, 2, 3, 4}, {2, 2});
  auto y = upload<B, float>(std::vector<double>{10, 20, 30, 40}, {2, 2});
  B::axpy(y.view(), 0.5f, x.view());
  CHECK(download<B>(y) == std::vector<float>{10.5f, 21, 31.5f, 42});
  B::scale(y.view(), 2.0f);
  CHECK(download<B>(y) == std::vector<float>{21, 42, 63, 84});
  typename B::template buffer<float> z(shape{2, 2});
  B::add(z.view(), x.view(), y.view());
  CHECK(download<B>(z) == std::vector<float>{22, 44, 66, 88});
  B::copy(z.view(), x.view());
  CHECK(download<B>(z) == std::vector<float>{1, 2, 3, 4});
  B::fill(z.view(), -1.5f);
  CHECK(download<B>(z) == std::vector<float>{-1.5f, -1.5f, -1.5f, -1.5f});
  CHECK(B::sum(x.view()) == 10.0);
  CHECK(B::sum_squares(x.view()) == 30.0);
  // Long sums accumulate in double: 1e6 copies of 0.1f.
  typename B::template buffer<float> big(shape{1000000});
  B::fill(big.view(), 0.1f);
  CHECK(B::sum(big.view()) == Approx(1e6 * static_cast<double>(0.1f)).epsilon(1e-12));
  auto ids = upload<B, std::int32_t>(std::vector<std::int32_t>{7, -3}, {2});
  CHECK(download<B>(ids) == std::vector<std::int32_t>{7, -3});
  std::vector<float> wrong(3);
  CHECK_THROWS_AS(B::to_host(std::span<float>(wrong), view<const float, typename B::space>(x.view())),
                  rlhf::invalid_argument);
  CHECK_THROWS_AS(B::from_host(x.view(), std::span<const float>(wrong)), rlhf::invalid_argument);
  CHECK_THROWS_AS(B::add(z.view(), x.view(), big.view()), rlhf::invalid_argument);
}

TEMPLATE_LIST_TEST_CASE("softmax family: hand-computed rows", "[backend][softmax]", backends) {
  using B = TestType;
  // softmax(0, ln 2, ln 3) = (1, 2, 3)/6; logsumexp = ln 6.
  const std::vector<double> row{0.0, std::log(2.0), std::log(3.0)};
  auto x = upload<B, double>(row, {1, 3});
  typename B::template buffer<double> p(shape{1, 3}), lp(shape{1, 3}), lse(shape{1});
  B::softmax_forward(p.view(), x.view());
  B::log_softmax_forward(lp.view(), x.view());
  B::logsumexp_forward(lse.view(), x.view());
  const auto ph = download<B>(p), lph = download<B>(lp);
  for (int i = 0; i < 3; ++i) {
    CHECK(ph[i] == Approx((i + 1) / 6.0).epsilon(1e-14));
    CHECK(lph[i] == Approx(std::log((i + 1) / 6.0)).epsilon(1e-14));
  }
  CHECK(download<B>(lse)[0] == Approx(std::log(6.0)).epsilon(1e-14));
}

TEMPLATE_LIST_TEST_CASE("layernorm, gelu, matmul, embedding: hand-computed cases", "[backend]", backends) {
  using B = TestType;
  SECTION("layernorm of (1, 2, 3, 4)") {
    // μ = 2.5, var = 1.25; out = (x - μ)/sqrt(var + ε) · w + b.
    auto x = upload<B, double>(std::vector<double>{1, 2, 3, 4}, {1, 4});
    auto w = upload<B, double>(std::vector<double>{1, 2, 1, 0.5}, {4});
    auto b = upload<B, double>(std::vector<double>{0, 0, 1, 0}, {4});
    typename B::template buffer<double> out(shape{1, 4}), mean(shape{1}), rstd(shape{1});
    B::layernorm_forward(out.view(), mean.view(), rstd.view(), x.view(), w.view(), b.view(), 1e-5);
    const double s = 1.0 / std::sqrt(1.25 + 1e-5);
    const auto o = download<B>(out);
    CHECK(o[0] == Approx(-1.5 * s).epsilon(1e-13));
    CHECK(o[1] == Approx(-1.0 * s).epsilon(1e-13));
    CHECK(o[2] == Approx(0.5 * s + 1).epsilon(1e-13));
    CHECK(o[3] == Approx(0.75 * s).epsilon(1e-13));
    CHECK(download<B>(mean)[0] == Approx(2.5));
    CHECK(download<B>(rstd)[0] == Approx(s).epsilon(1e-13));
  }
  SECTION("gelu, tanh form") {
    auto x = upload<B, double>(std::vector<double>{0.0, 1.0, -1.0, 3.0}, {4});
    typename B::template buffer<double> out(shape{4});
    B::gelu_forward(out.view(), x.view());
    const auto o = download<B>(out);
    auto ref = [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); };
    CHECK(o[0] == 0.0);
    CHECK(o[1] == Approx(0.8411919906082768).epsilon(1e-13));
    CHECK(o[2] == Approx(-0.15880800939172324).epsilon(1e-13));
    CHECK(o[3] == Approx(ref(3.0)).epsilon(1e-13));
  }
  SECTION("matmul with bias, both weight layouts") {
    // inp (2,3) · W (3,2) + bias.
    const std::vector<double> inp{1, 2, 3, 4, 5, 6}, W{1, 0, 0, 1, 1, 1}, Wt{1, 0, 1, 0, 1, 1};
    auto i = upload<B, double>(inp, {2, 3});
    auto bias = upload<B, double>(std::vector<double>{10, 20}, {2});
    for (bool tr : {false, true}) {
      auto w = upload<B, double>(tr ? Wt : W, tr ? shape{2, 3} : shape{3, 2});
      typename B::template buffer<double> out(shape{2, 2});
      B::matmul_forward(out.view(), i.view(), w.view(), bias.view(), tr);
      CHECK(download<B>(out) == std::vector<double>{14, 25, 20, 31});
      B::matmul_forward(out.view(), i.view(), w.view(), none<B, const double>(), tr);
      CHECK(download<B>(out) == std::vector<double>{4, 5, 10, 11});
    }
  }
  SECTION("embedding gather, gather_rows, split_qkv, kv_write") {
    auto wte = upload<B, float>(std::vector<double>{0, 1, 10, 11, 20, 21}, {3, 2});
    auto wpe = upload<B, float>(std::vector<double>{100, 200, 300, 400}, {2, 2});
    auto tok = upload<B, std::int32_t>(std::vector<std::int32_t>{2, 0, 1, 1}, {2, 2});
    auto pos = upload<B, std::int32_t>(std::vector<std::int32_t>{0, 1, 0, 1}, {2, 2});
    typename B::template buffer<float> out(shape{2, 2, 2});
    B::embedding_forward(out.view(), wte.view(), wpe.view(), tok.view(), pos.view());
    CHECK(download<B>(out) == std::vector<float>{120, 221, 300, 401, 110, 211, 310, 411});

    auto idx = upload<B, std::int32_t>(std::vector<std::int32_t>{2, 2, 0}, {3});
    typename B::template buffer<float> g(shape{3, 2});
    B::gather_rows(g.view(), wte.view(), idx.view());
    CHECK(download<B>(g) == std::vector<float>{20, 21, 20, 21, 0, 1});
    typename B::template buffer<float> acc(shape{3, 2});
    B::scatter_add_rows(acc.view(), g.view(), idx.view());
    CHECK(download<B>(acc) == std::vector<float>{0, 1, 0, 0, 40, 42});

    auto qkv = upload<B, float>(std::vector<double>{1, 2, 3, 4, 5, 6}, {1, 2, 3});
    typename B::template buffer<float> q(shape{1, 2, 1}), k(shape{1, 2, 1}), v(shape{1, 2, 1});
    B::split_qkv(q.view(), k.view(), v.view(), qkv.view());
    CHECK(download<B>(q) == std::vector<float>{1, 4});
    CHECK(download<B>(k) == std::vector<float>{2, 5});
    CHECK(download<B>(v) == std::vector<float>{3, 6});

    typename B::template buffer<float> cache(shape{2, 3, 1});
    auto row = upload<B, std::int32_t>(std::vector<std::int32_t>{1}, {1});
    auto len = upload<B, std::int32_t>(std::vector<std::int32_t>{1}, {1});
    auto cnt = upload<B, std::int32_t>(std::vector<std::int32_t>{2}, {1});
    B::kv_write(cache.view(), q.view(), row.view(), len.view(), cnt.view());
    CHECK(download<B>(cache) == std::vector<float>{0, 0, 0, 0, 1, 4});
  }
}

TEMPLATE_LIST_TEST_CASE("cross_entropy: log-likelihood with ignored targets", "[backend][cross_entropy]", backends) {
  using B = TestType;
  const std::vector<double> x{0.0, std::log(2.0), std::log(3.0), 5.0, 1.0, -2.0};
  auto logits = upload<B, double>(x, {2, 3});
  auto t = upload<B, std::int32_t>(std::vector<std::int32_t>{2, -1}, {2});
  typename B::template buffer<double> logp(shape{2}), lse(shape{2});
  B::cross_entropy_forward(logp.view(), lse.view(), logits.view(), t.view());
  const auto lp = download<B>(logp);
  CHECK(lp[0] == Approx(std::log(0.5)).epsilon(1e-14));
  CHECK(lp[1] == 0.0);
  CHECK(download<B>(lse)[0] == Approx(std::log(6.0)).epsilon(1e-14));
  // Backward: row 0 gets dlogp · (onehot - p); the ignored row gets nothing.
  typename B::template buffer<double> dx(shape{2, 3});
  auto dlogp = upload<B, double>(std::vector<double>{2.0, 7.0}, {2});
  B::cross_entropy_backward(dx.view(), dlogp.view(), logits.view(), lse.view(), t.view());
  const auto d = download<B>(dx);
  CHECK(d[0] == Approx(-2.0 / 6).epsilon(1e-13));
  CHECK(d[1] == Approx(-4.0 / 6).epsilon(1e-13));
  CHECK(d[2] == Approx(2.0 - 1.0).epsilon(1e-13));
  CHECK((d[3] == 0.0 && d[4] == 0.0 && d[5] == 0.0));
}

TEMPLATE_LIST_TEST_CASE("softmax family and cross_entropy are finite at logits of ±1e4", "[backend][stability]",
                        backends) {
  using B = TestType;
  const index_t N = 2, V = 4;
  const std::vector<double> x{1e4, -1e4, 0.0, 1e4 - 1, -1e4, -1e4, -1e4 + 3, 1e4};
  auto run = [&]<class T>(T) {
    auto lg = upload<B, T>(x, {N, V});
    auto t = upload<B, std::int32_t>(std::vector<std::int32_t>{1, 2}, {N});
    typename B::template buffer<T> p(shape{N, V}), lp(shape{N, V}), lse(shape{N}), logp(shape{N});
    B::softmax_forward(p.view(), lg.view());
    B::log_softmax_forward(lp.view(), lg.view());
    B::logsumexp_forward(lse.view(), lg.view());
    B::cross_entropy_forward(logp.view(), lse.view(), lg.view(), t.view());
    auto ones = upload<B, T>(std::vector<double>(static_cast<std::size_t>(N * V), 1.0), {N, V});
    auto onesn = upload<B, T>(std::vector<double>(static_cast<std::size_t>(N), 1.0), {N});
    typename B::template buffer<T> d1(shape{N, V}), d2(shape{N, V}), d3(shape{N, V}), d4(shape{N, V});
    B::softmax_backward(d1.view(), ones.view(), p.view());
    B::log_softmax_backward(d2.view(), ones.view(), lp.view());
    B::logsumexp_backward(d3.view(), onesn.view(), lg.view(), lse.view());
    B::cross_entropy_backward(d4.view(), onesn.view(), lg.view(), lse.view(), t.view());
    for (const auto* b : {&p, &lp, &d1, &d2, &d3, &d4}) CHECK(all_finite(as_double(download<B>(*b))));
    CHECK(all_finite(as_double(download<B>(lse))));
    const auto lph = as_double(download<B>(logp));
    CHECK(all_finite(lph));
    // Row 0: target 1 sits 2e4 below the max: log p = -2e4 - log(1 + e^-1), exactly representable scale.
    CHECK(lph[0] == Approx(-2e4 - std::log1p(std::exp(-1.0))).epsilon(1e-6));
    const auto ph = as_double(download<B>(p));
    CHECK(ph[0] == Approx(1 / (1 + std::exp(-1.0))).epsilon(1e-6));
    CHECK(ph[1] < 1e-30);  // exp(-2e4): 0, or a denormal where a vectorised exp clamps its input
  };
  run(float{});
  run(double{});
}

TEMPLATE_LIST_TEST_CASE("out-of-range ids and shape mismatches throw invalid_argument", "[backend][errors]",
                        backends) {
  using B = TestType;
  auto wte = upload<B, float>(random_vector(5 * 2, 70), {5, 2});
  auto wpe = upload<B, float>(random_vector(3 * 2, 71), {3, 2});
  typename B::template buffer<float> out(shape{2, 2});
  auto ok = upload<B, std::int32_t>(std::vector<std::int32_t>{0, 4}, {2});
  auto bad_tok = upload<B, std::int32_t>(std::vector<std::int32_t>{0, 5}, {2});
  auto bad_pos = upload<B, std::int32_t>(std::vector<std::int32_t>{0, 3}, {2});
  auto neg = upload<B, std::int32_t>(std::vector<std::int32_t>{-2, 1}, {2});
  CHECK_THROWS_AS(B::embedding_forward(out.view(), wte.view(), wpe.view(), bad_tok.view(), ok.view()),
                  rlhf::invalid_argument);
  CHECK_THROWS_AS(B::embedding_forward(out.view(), wte.view(), wpe.view(), neg.view(), ok.view()),
                  rlhf::invalid_argument);
  CHECK_THROWS_AS(B::embedding_forward(out.view(), wte.view(), wpe.view(), ok.view(), bad_pos.view()),
                  rlhf::invalid_argument);
  // The message names the offending value and the vocabulary size.
  try {
    B::embedding_forward(out.view(), wte.view(), wpe.view(), bad_tok.view(), ok.view());
  } catch (const rlhf::invalid_argument& e) {
    const std::string m = e.what();
    CHECK_THAT(m, Catch::Contains("5"));
    CHECK_THAT(m, Catch::Contains("token"));
  }
  typename B::template buffer<float> dwte(shape{5, 2}), dwpe(shape{3, 2});
  CHECK_THROWS_AS(B::embedding_backward(dwte.view(), dwpe.view(), out.view(), bad_tok.view(), ok.view()),
                  rlhf::invalid_argument);
  // cross_entropy target >= V.
  auto logits = upload<B, float>(random_vector(2 * 5, 72), {2, 5});
  typename B::template buffer<float> logp(shape{2}), lse(shape{2});
  CHECK_THROWS_AS(B::cross_entropy_forward(logp.view(), lse.view(), logits.view(), bad_tok.view()),
                  rlhf::invalid_argument);
  try {
    B::cross_entropy_forward(logp.view(), lse.view(), logits.view(), bad_tok.view());
  } catch (const rlhf::invalid_argument& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("5"));
  }
  // matmul: W of the wrong shape, bias of the wrong length, out of the wrong shape.
  auto inp = upload<B, float>(random_vector(2 * 3, 73), {2, 3});
  auto w = upload<B, float>(random_vector(3 * 4, 74), {3, 4});
  auto w_bad = upload<B, float>(random_vector(4 * 4, 75), {4, 4});
  auto b_bad = upload<B, float>(random_vector(3, 76), {3});
  typename B::template buffer<float> o(shape{2, 4}), o_bad(shape{3, 4});
  auto nf = none<B, const float>();
  CHECK_NOTHROW(B::matmul_forward(o.view(), inp.view(), w.view(), nf, false));
  CHECK_THROWS_AS(B::matmul_forward(o.view(), inp.view(), w_bad.view(), nf, false), rlhf::invalid_argument);
  CHECK_THROWS_AS(B::matmul_forward(o.view(), inp.view(), w.view(), b_bad.view(), false), rlhf::invalid_argument);
  CHECK_THROWS_AS(B::matmul_forward(o_bad.view(), inp.view(), w.view(), nf, false), rlhf::invalid_argument);
  CHECK_THROWS_AS(B::matmul_forward(o.view(), inp.view(), w.view(), nf, true), rlhf::invalid_argument);
  // layernorm: weight of the wrong length.
  typename B::template buffer<float> ln(shape{2, 3}), m(shape{2}), r(shape{2});
  CHECK_THROWS_AS(B::layernorm_forward(ln.view(), m.view(), r.view(), inp.view(), b_bad.view(), w.view(), 1e-5f),
                  rlhf::invalid_argument);
  // softmax / gelu: output shape differs from input.
  CHECK_THROWS_AS(B::softmax_forward(o.view(), inp.view()), rlhf::invalid_argument);
  CHECK_THROWS_AS(B::gelu_forward(o.view(), inp.view()), rlhf::invalid_argument);
  // adamw: step 0.
  typename B::template buffer<float> p(shape{2, 3}), mm(shape{2, 3}), vv(shape{2, 3});
  CHECK_THROWS_AS(B::adamw_update(p.view(), inp.view(), mm.view(), vv.view(), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0),
                  rlhf::invalid_argument);
}

TEMPLATE_LIST_TEST_CASE("adamw_update follows the AdamW formula", "[backend][optimizer]", backends) {
  using B = TestType;
  const index_t n = 37;
  const double lr = 1e-2, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
  auto p0 = random_vector(n, 80), g1 = random_vector(n, 81), g2 = random_vector(n, 82);
  auto p = upload<B, double>(p0, {n});
  typename B::template buffer<double> m(shape{n}), v(shape{n});
  std::vector<double> pr = p0, mr(n, 0.0), vr(n, 0.0);
  int t = 0;
  for (const auto* g : {&g1, &g2}) {
    ++t;
    auto gb = upload<B, double>(*g, {n});
    B::adamw_update(p.view(), gb.view(), m.view(), v.view(), lr, b1, b2, eps, wd, t);
    for (index_t i = 0; i < n; ++i) {
      const std::size_t k = static_cast<std::size_t>(i);
      mr[k] = b1 * mr[k] + (1 - b1) * (*g)[k];
      vr[k] = b2 * vr[k] + (1 - b2) * (*g)[k] * (*g)[k];
      const double mh = mr[k] / (1 - std::pow(b1, t)), vh = vr[k] / (1 - std::pow(b2, t));
      pr[k] -= lr * (mh / (std::sqrt(vh) + eps) + wd * pr[k]);
    }
  }
  CHECK(relative_error(download<B>(p), pr) < 1e-14);
  CHECK(relative_error(download<B>(m), mr) < 1e-14);
  CHECK(relative_error(download<B>(v), vr) < 1e-14);
}

TEMPLATE_LIST_TEST_CASE("float kernels agree with double", "[backend][precision]", backends) {
  using B = TestType;
  const index_t N = 33, K = 70, C = 48, V = 300;
  const auto x = random_vector(N * K, 90), w = random_vector(K * C, 91, 0.2), bias = random_vector(C, 92);
  const auto logits = random_vector(N * V, 93, 4.0);
  auto run = [&]<class T>(T) {
    std::vector<std::vector<double>> r;
    auto xi = upload<B, T>(x, {N, K});
    auto wi = upload<B, T>(w, {K, C});
    auto bi = upload<B, T>(bias, {C});
    typename B::template buffer<T> h(shape{N, C}), ln(shape{N, C}), mean(shape{N}), rstd(shape{N}), ge(shape{N, C});
    B::matmul_forward(h.view(), xi.view(), wi.view(), bi.view(), false);
    auto gamma = upload<B, T>(std::vector<double>(static_cast<std::size_t>(C), 1.5), {C});
    B::layernorm_forward(ln.view(), mean.view(), rstd.view(), h.view(), gamma.view(), bi.view(), T(1e-5));
    B::gelu_forward(ge.view(), ln.view());
    auto lg = upload<B, T>(logits, {N, V});
    typename B::template buffer<T> lp(shape{N, V}), lse(shape{N});
    B::log_softmax_forward(lp.view(), lg.view());
    B::logsumexp_forward(lse.view(), lg.view());
    // Backward through matmul and layernorm with the same upstream gradient.
    auto dy = upload<B, T>(random_vector(N * C, 94), {N, C});
    typename B::template buffer<T> dx(shape{N, K}), dw(shape{K, C}), db(shape{C}), dh(shape{N, C}), dg(shape{C});
    B::layernorm_backward(dh.view(), dg.view(), db.view(), dy.view(), h.view(), gamma.view(), mean.view(),
                          rstd.view());
    B::matmul_backward(dx.view(), dw.view(), db.view(), dh.view(), xi.view(), wi.view(), false);
    for (const auto* b : {&h, &ln, &ge, &lp, &lse, &dx, &dw, &db, &dh, &dg}) r.push_back(as_double(download<B>(*b)));
    return r;
  };
  const auto f = run(float{}), d = run(double{});
  for (std::size_t i = 0; i < f.size(); ++i) {
    INFO("output " << i);
    CHECK(max_rel_diff(f[i], d[i]) < 2e-4);
  }
}

TEMPLATE_LIST_TEST_CASE("results are bitwise identical on 1 and 2 threads", "[backend][determinism]", backends) {
  using B = TestType;
  const int saved = B::num_threads();
  // Shapes above the matmul tile sizes, so that threads split every kernel.
  const index_t M = 600, K = 300, N = 1100, Bn = 3, T = 40, C = 64, V = 700;
  const auto x = random_vector(M * K, 100), w = random_vector(K * N, 101, 0.1);
  const auto q = random_vector(Bn * T * C, 102), dO = random_vector(Bn * T * C, 103);
  std::vector<std::int32_t> tok(static_cast<std::size_t>(M));
  for (index_t i = 0; i < M; ++i) tok[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 7) % 13);
  auto run = [&] {
    std::vector<std::vector<float>> r;
    auto xi = upload<B, float>(x, {M, K});
    auto wi = upload<B, float>(w, {K, N});
    typename B::template buffer<float> out(shape{M, N}), dx(shape{M, K}), dw(shape{K, N}), db(shape{N});
    B::matmul_forward(out.view(), xi.view(), wi.view(), none<B, const float>(), false);
    B::matmul_backward(dx.view(), dw.view(), db.view(), out.view(), xi.view(), wi.view(), false);
    typename B::template buffer<float> tw(shape{N, K});
    B::matmul_backward(none<B, float>(), tw.view(), none<B, float>(), out.view(), xi.view(), tw.view(), true);
    auto ti = upload<B, std::int32_t>(tok, {M});
    typename B::template buffer<float> dwte(shape{V, K});
    B::embedding_backward(dwte.view(), none<B, float>(), xi.view(), ti.view(), none<B, const std::int32_t>());
    auto qi = upload<B, float>(q, {Bn, T, C});
    auto gi = upload<B, float>(dO, {Bn, T, C});
    typename B::template buffer<float> ao(shape{Bn, T, C}), pr(shape{Bn, 4, T, T}), dq(shape{Bn, T, C}),
        dk(shape{Bn, T, C}), dv(shape{Bn, T, C});
    auto nf = none<B, const float>();
    auto ni = none<B, const std::int32_t>();
    B::attention_forward(ao.view(), pr.view(), qi.view(), qi.view(), qi.view(), nf, nf, ni, ni, 4);
    B::attention_backward(dq.view(), dk.view(), dv.view(), gi.view(), qi.view(), qi.view(), qi.view(), pr.view(), 4);
    typename B::template buffer<float> ln(shape{M, K}), mean(shape{M}), rstd(shape{M}), dg(shape{K}), dbb(shape{K});
    auto gamma = upload<B, float>(std::vector<double>(static_cast<std::size_t>(K), 1.0), {K});
    B::layernorm_forward(ln.view(), mean.view(), rstd.view(), xi.view(), gamma.view(), gamma.view(), 1e-5f);
    B::layernorm_backward(dx.view(), dg.view(), dbb.view(), ln.view(), xi.view(), gamma.view(), mean.view(),
                          rstd.view());
    for (const auto* b : {&out, &dx, &dw, &db, &tw, &dwte, &ao, &pr, &dq, &dk, &dv, &dg, &dbb})
      r.push_back(download<B>(*b));
    r.push_back({static_cast<float>(B::sum(xi.view())), static_cast<float>(B::sum_squares(out.view()))});
    return r;
  };
  B::set_num_threads(1);
  const auto one = run();
  B::set_num_threads(2);
  const auto two = run();
  B::set_num_threads(saved);
  for (std::size_t i = 0; i < one.size(); ++i) {
    INFO("output " << i);
    CHECK(std::memcmp(one[i].data(), two[i].data(), one[i].size() * sizeof(float)) == 0);
  }
}

TEMPLATE_LIST_TEST_CASE("pick and row_max: hand-computed rows, ties, ignored rows, bad input", "[backend][pick]",
                        backends) {
  using B = TestType;
  // Row 1 has a tie (3 at columns 0 and 2): the lowest index wins.
  const std::vector<double> x{0.5, -1.0, 2.0, 3.0, 1.0, 3.0, -4.0, -2.0, -3.0};
  auto m = upload<B, double>(x, {3, 3});
  auto idx = upload<B, std::int32_t>(std::vector<std::int32_t>{1, -1, 2}, {3});
  typename B::template buffer<double> picked(shape{3}), best(shape{3});
  typename B::template buffer<std::int32_t> arg(shape{3});
  B::pick_forward(picked.view(), m.view(), idx.view());
  CHECK(download<B>(picked) == std::vector<double>{-1.0, 0.0, -3.0});
  B::row_max_forward(best.view(), arg.view(), m.view());
  CHECK(download<B>(best) == std::vector<double>{2.0, 3.0, -2.0});
  CHECK(download<B>(arg) == std::vector<std::int32_t>{2, 0, 1});
  // Backward accumulates; the ignored row gets nothing; the argmax is a valid index list.
  auto dx = upload<B, double>(std::vector<double>(9, 1.0), {3, 3});
  auto g = upload<B, double>(std::vector<double>{2.0, 5.0, -1.0}, {3});
  B::pick_backward(dx.view(), g.view(), idx.view());
  B::pick_backward(dx.view(), g.view(), view<const std::int32_t, typename B::space>(arg.view()));
  CHECK(download<B>(dx) == std::vector<double>{1, 3, 3, 6, 1, 1, 1, 0, 0});
  // Bad input: an index >= V, a wrong count, an output of the wrong size.
  auto far = upload<B, std::int32_t>(std::vector<std::int32_t>{0, 3, 0}, {3});
  auto two = upload<B, std::int32_t>(std::vector<std::int32_t>{0, 1}, {2});
  typename B::template buffer<double> small(shape{2});
  CHECK_THROWS_AS(B::pick_forward(picked.view(), m.view(), far.view()), rlhf::invalid_argument);
  CHECK_THROWS_AS(B::pick_forward(picked.view(), m.view(), two.view()), rlhf::invalid_argument);
  CHECK_THROWS_AS(B::pick_backward(dx.view(), g.view(), far.view()), rlhf::invalid_argument);
  CHECK_THROWS_AS(B::row_max_forward(small.view(), arg.view(), m.view()), rlhf::invalid_argument);
}

TEMPLATE_LIST_TEST_CASE("pick_backward is the gradient of pick_forward and of row_max_forward (finite differences)",
                        "[backend][pick][gradcheck]", backends) {
  using B = TestType;
  const index_t N = 4, V = 5;
  auto x = random_vector(static_cast<std::size_t>(N * V), 91, 2.0);  // distinct entries: no ties
  const auto w = random_vector(static_cast<std::size_t>(N), 92);
  const std::vector<std::int32_t> cols{3, 0, -1, 4};
  for (bool use_max : {false, true}) {
    INFO((use_max ? "row_max" : "pick"));
    std::vector<std::int32_t> arg_host(static_cast<std::size_t>(N));
    const auto forward = [&] {
      auto m = upload<B, double>(x, {N, V});
      typename B::template buffer<double> out(shape{N});
      if (use_max) {
        typename B::template buffer<std::int32_t> arg(shape{N});
        B::row_max_forward(out.view(), arg.view(), m.view());
        arg_host = download<B>(arg);
      } else {
        auto idx = upload<B, std::int32_t>(cols, {N});
        B::pick_forward(out.view(), m.view(), idx.view());
      }
      return as_double(download<B>(out));
    };
    const auto numeric = numerical_gradient([&] { return weighted_sum(w, forward()); }, std::span<double>(x));
    forward();
    const auto initial = random_vector(x.size(), 93, 0.5);
    auto grad = upload<B, double>(initial, {N, V});
    auto g = upload<B, double>(w, {N});
    auto idx = upload<B, std::int32_t>(use_max ? arg_host : cols, {N});
    B::pick_backward(grad.view(), g.view(), idx.view());
    const auto analytic = minus(as_double(download<B>(grad)), initial);
    CHECK(relative_error(analytic, numeric) < 1e-8);
  }
}

namespace {
/// Deterministic values in [-1, 1) for the product tests.
std::vector<double> wave(std::size_t n, double phase) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(0.37 * static_cast<double>(i) + phase);
  return v;
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("matmul forward: each row equals that row alone, bitwise, at 1..40 rows; close to double",
                        "[backend][matmul]", backends) {
  // Decoding computes a row's logits in batches of any size; sampling is batch-invariant only if
  // a row's product does not depend on the rows beside it. 1..32 rows take the few-row kernels
  // (a wide weight, 520 x 640 floats = 1.3 MB, takes the packed-panel path), 33..40 the GEMM.
  using B = TestType;
  for (const auto& shape_kn : {std::pair<index_t, index_t>{37, 70}, {520, 640}}) {
    const index_t K = shape_kn.first, N = shape_kn.second;  // (not a structured binding: clang 14 cannot capture one)
    for (const bool tr : {false, true}) {
      const auto w_host = wave(static_cast<std::size_t>(K * N), 0.5);
      auto w = upload<B, float>(w_host, tr ? shape{N, K} : shape{K, N});
      auto bias = upload<B, float>(wave(static_cast<std::size_t>(N), 1.5), {N});
      const index_t max_rows = 40;
      const auto x_host = wave(static_cast<std::size_t>(max_rows * K), 2.5);
      std::vector<float> alone;  // each row computed alone
      for (index_t r = 0; r < max_rows; ++r) {
        auto x = upload<B, float>(std::vector<double>(x_host.begin() + r * K, x_host.begin() + (r + 1) * K), {1, K});
        typename B::template buffer<float> out(shape{1, N});
        B::matmul_forward(out.view(), x.view(), w.view(), bias.view(), tr);
        const auto o = download<B>(out);
        alone.insert(alone.end(), o.begin(), o.end());
      }
      // Double reference of row r, column n.
      auto ref = [&](index_t r, index_t n) {
        double s = static_cast<float>(std::sin(0.37 * static_cast<double>(n) + 1.5));
        for (index_t k = 0; k < K; ++k)
          s += static_cast<double>(static_cast<float>(x_host[static_cast<std::size_t>(r * K + k)])) *
               static_cast<float>(w_host[static_cast<std::size_t>(tr ? n * K + k : k * N + n)]);
        return s;
      };
      double worst = 0;
      for (index_t r = 0; r < max_rows; ++r)
        for (index_t n = 0; n < N; ++n)
          worst = std::max(worst, std::abs(alone[static_cast<std::size_t>(r * N + n)] - ref(r, n)));
      INFO("K " << K << " N " << N << " transposed " << tr);
      CHECK(worst < 1e-4 * std::sqrt(static_cast<double>(K)));
      for (const index_t M : {2, 3, 4, 5, 8, 16, 31, 32}) {
        auto x = upload<B, float>(std::vector<double>(x_host.begin(), x_host.begin() + M * K), {M, K});
        typename B::template buffer<float> out(shape{M, N});
        B::matmul_forward(out.view(), x.view(), w.view(), bias.view(), tr);
        INFO("M " << M);
        CHECK(download<B>(out) == std::vector<float>(alone.begin(), alone.begin() + M * N));
      }
    }
  }
}
