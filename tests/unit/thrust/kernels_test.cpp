// SPDX-License-Identifier: MIT
// Thrust-specific kernel checks against plain double-precision loops: the blocked GEMM across
// tile edges and every transpose, attention over a KV cache against the uncached pass, kv_write,
// and the error behaviour on bad ids and shapes. Cross-backend equality with Eigen lives in
// tests/unit/backend.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <omp.h>

#include "support/gradcheck.hpp"
#include "thrust_support.hpp"

using rlhf::index_t;
using rlhf::shape;
using rlhf::backend::thrust_cpp;
using rlhf::backend::thrust_host;
using rlhf::test::download;
using rlhf::test::upload;

namespace {
std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  const auto d = rlhf::test::random_vector(n, seed);
  return {d.begin(), d.end()};
}
std::vector<std::int32_t> ids(std::initializer_list<std::int32_t> v) { return v; }
}  // namespace

TEMPLATE_TEST_CASE("thrust matmul matches a double-precision reference across tile edges",
                   "[thrust][matmul]", RLHF_THRUST_TEST_SYSTEMS) {
  using B = TestType;
  if (!rlhf::test::system_available<B>()) {
    WARN(B::name() << ": no device, skipped");
    return;
  }
  // M, N, K straddle the 64 x 64 output tiles, the 256-deep K blocks and the 4 x 8 micro-kernel.
  const index_t m = 67, k = 300, n = 130;
  const auto x = random_floats(static_cast<std::size_t>(m * k), 1);
  const auto w = random_floats(static_cast<std::size_t>(k * n), 2);
  const auto bias = random_floats(static_cast<std::size_t>(n), 3);
  for (const bool transposed : {false, true}) {
    CAPTURE(transposed);
    // W(kk, j) of the (K, N) product, whichever layout holds it.
    auto wt = [&](index_t kk, index_t j) {
      return static_cast<double>(transposed ? w[static_cast<std::size_t>(j * k + kk)]
                                            : w[static_cast<std::size_t>(kk * n + j)]);
    };
    auto dx = upload<B>(x, shape{m, k});
    auto dw = upload<B>(w, transposed ? shape{n, k} : shape{k, n});
    auto db = upload<B>(bias, shape{n});
    typename B::template buffer<float> out(shape{m, n});
    B::matmul_forward(out.view(), dx.view(), dw.view(), db.view(), transposed);
    const auto got = download<B>(out.view());
    double worst = 0;
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) {
        double ref = bias[static_cast<std::size_t>(j)];
        for (index_t kk = 0; kk < k; ++kk) ref += x[static_cast<std::size_t>(i * k + kk)] * wt(kk, j);
        worst = std::max(worst, std::abs(ref - got[static_cast<std::size_t>(i * n + j)]));
      }
    CHECK(worst < 1e-4);

    // Backward accumulates: start every gradient at 1 and subtract it afterwards.
    const auto g = random_floats(static_cast<std::size_t>(m * n), 4);
    auto dout = upload<B>(g, shape{m, n});
    typename B::template buffer<float> gx(shape{m, k}), gw(dw.extents()), gb(shape{n});
    B::fill(gx.view(), 1.0f);
    B::fill(gw.view(), 1.0f);
    B::fill(gb.view(), 1.0f);
    B::matmul_backward(gx.view(), gw.view(), gb.view(), dout.view(), dx.view(), dw.view(), transposed);
    const auto hx = download<B>(gx.view()), hw = download<B>(gw.view()), hb = download<B>(gb.view());
    double worst_x = 0, worst_w = 0, worst_b = 0;
    for (index_t i = 0; i < m; ++i)
      for (index_t kk = 0; kk < k; ++kk) {
        double ref = 1;
        for (index_t j = 0; j < n; ++j) ref += g[static_cast<std::size_t>(i * n + j)] * wt(kk, j);
        worst_x = std::max(worst_x, std::abs(ref - hx[static_cast<std::size_t>(i * k + kk)]));
      }
    for (index_t kk = 0; kk < k; ++kk)
      for (index_t j = 0; j < n; ++j) {
        double ref = 1;
        for (index_t i = 0; i < m; ++i)
          ref += static_cast<double>(x[static_cast<std::size_t>(i * k + kk)]) * g[static_cast<std::size_t>(i * n + j)];
        const auto at = static_cast<std::size_t>(transposed ? j * k + kk : kk * n + j);
        worst_w = std::max(worst_w, std::abs(ref - hw[at]));
      }
    for (index_t j = 0; j < n; ++j) {
      double ref = 1;
      for (index_t i = 0; i < m; ++i) ref += g[static_cast<std::size_t>(i * n + j)];
      worst_b = std::max(worst_b, std::abs(ref - hb[static_cast<std::size_t>(j)]));
    }
    CHECK(worst_x < 1e-4);
    CHECK(worst_w < 1e-4);
    CHECK(worst_b < 1e-4);
  }
}

TEST_CASE("thrust matmul handles a single row without bias", "[thrust][matmul]") {
  using B = thrust_host;
  const auto x = std::vector<double>{1, 2, 3};
  const auto w = std::vector<double>{1, 0, 2, 1, 0, 1};  // (3, 2)
  auto dx = upload<B>(x, shape{1, 3});
  auto dw = upload<B>(w, shape{3, 2});
  B::buffer<double> out(shape{1, 2});
  B::matmul_forward(out.view(), dx.view(), dw.view(), {}, false);
  CHECK(download<B>(out.view()) == std::vector<double>{1 + 4 + 0, 0 + 2 + 3});
}

TEST_CASE("thrust attention over a KV cache equals the uncached pass", "[thrust][attention]") {
  using B = thrust_host;
  const index_t nb = 2, t = 5, c = 8, nh = 2, prefix = 3, cap = 7;
  const auto q = rlhf::test::random_vector(static_cast<std::size_t>(nb * t * c), 11);
  const auto k = rlhf::test::random_vector(static_cast<std::size_t>(nb * t * c), 12);
  const auto v = rlhf::test::random_vector(static_cast<std::size_t>(nb * t * c), 13);
  auto dq = upload<B>(q, shape{nb, t, c});
  auto dk = upload<B>(k, shape{nb, t, c});
  auto dv = upload<B>(v, shape{nb, t, c});
  B::buffer<double> out(shape{nb, t, c}), probs(shape{nb, nh, t, t});
  B::attention_forward(out.view(), probs.view(), dq.view(), dk.view(), dv.view(), {}, {}, {}, {},
                       static_cast<int>(nh));
  const auto full = download<B>(out.view());
  const auto full_p = download<B>(probs.view());
  // Causal rows sum to one and put no weight on future keys.
  for (index_t r = 0; r < nb * nh * t; ++r) {
    const index_t i = r % t;
    double s = 0;
    for (index_t j = 0; j < t; ++j) {
      const double p = full_p[static_cast<std::size_t>(r * t + j)];
      if (j > i) CHECK(p == 0.0);
      s += p;
    }
    CHECK(s == Approx(1.0).epsilon(1e-12));
  }
  // Cache the first `prefix` keys and values of both rows in reversed cache rows, then run the
  // remaining queries against the cache.
  B::buffer<double> kc(shape{2, cap, c}), vc(shape{2, cap, c});
  auto rows = upload<B>(ids({1, 0}), shape{nb});
  auto zero = upload<B>(ids({0, 0}), shape{nb});
  auto count = upload<B>(ids({static_cast<std::int32_t>(prefix), static_cast<std::int32_t>(prefix)}), shape{nb});
  B::kv_write(kc.view(), dk.view(), rows.view(), zero.view(), count.view());
  B::kv_write(vc.view(), dv.view(), rows.view(), zero.view(), count.view());
  const index_t tq = t - prefix;
  std::vector<double> q2, k2, v2;
  for (index_t b = 0; b < nb; ++b)
    for (index_t i = prefix; i < t; ++i)
      for (index_t j = 0; j < c; ++j) {
        const auto at = static_cast<std::size_t>((b * t + i) * c + j);
        q2.push_back(q[at]);
        k2.push_back(k[at]);
        v2.push_back(v[at]);
      }
  auto dq2 = upload<B>(q2, shape{nb, tq, c});
  auto dk2 = upload<B>(k2, shape{nb, tq, c});
  auto dv2 = upload<B>(v2, shape{nb, tq, c});
  auto lens = upload<B>(ids({static_cast<std::int32_t>(prefix), static_cast<std::int32_t>(prefix)}), shape{nb});
  const index_t s = cap + 1;  // wider than needed: the tail must be zero
  B::buffer<double> out2(shape{nb, tq, c}), probs2(shape{nb, nh, tq, s});
  B::fill(probs2.view(), 9.0);
  B::attention_forward(out2.view(), probs2.view(), dq2.view(), dk2.view(), dv2.view(), kc.view(),
                       vc.view(), rows.view(), lens.view(), static_cast<int>(nh));
  const auto part = download<B>(out2.view());
  const auto part_p = download<B>(probs2.view());
  for (index_t b = 0; b < nb; ++b)
    for (index_t i = 0; i < tq; ++i) {
      for (index_t j = 0; j < c; ++j)
        CHECK(part[static_cast<std::size_t>((b * tq + i) * c + j)] ==
              Approx(full[static_cast<std::size_t>((b * t + prefix + i) * c + j)]).epsilon(1e-12));
      for (index_t h = 0; h < nh; ++h)
        for (index_t j = 0; j < s; ++j) {
          const double want = j < t ? full_p[static_cast<std::size_t>(((b * nh + h) * t + prefix + i) * t + j)] : 0.0;
          CHECK(part_p[static_cast<std::size_t>(((b * nh + h) * tq + i) * s + j)] == Approx(want).margin(1e-14));
        }
    }
}

TEST_CASE("thrust kv_write places rows at their lengths and leaves the rest", "[thrust][attention]") {
  using B = thrust_cpp;
  const index_t c = 2;
  B::buffer<float> cache(shape{2, 4, c});
  B::fill(cache.view(), -1.0f);
  auto src = upload<B>(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}, shape{2, 2, c});
  auto rows = upload<B>(ids({1, 0}), shape{2});
  auto lens = upload<B>(ids({2, 0}), shape{2});
  auto count = upload<B>(ids({2, 1}), shape{2});
  B::kv_write(cache.view(), src.view(), rows.view(), lens.view(), count.view());
  CHECK(download<B>(cache.view()) ==
        std::vector<float>{5, 6, -1, -1, -1, -1, -1, -1,  // row 0: src[1, 0] at position 0
                           -1, -1, -1, -1, 1, 2, 3, 4});   // row 1: src[0, 0..1] at 2, 3
  auto full = upload<B>(ids({3, 0}), shape{2});
  CHECK_THROWS_AS(B::kv_write(cache.view(), src.view(), rows.view(), full.view(), count.view()),
                  rlhf::invalid_argument);
  auto bad_row = upload<B>(ids({2, 0}), shape{2});
  CHECK_THROWS_AS(B::kv_write(cache.view(), src.view(), bad_row.view(), lens.view(), count.view()),
                  rlhf::invalid_argument);
}

TEMPLATE_TEST_CASE("thrust kernels reject out-of-range ids and mismatched shapes",
                   "[thrust][errors]", RLHF_THRUST_TEST_SYSTEMS) {
  using B = TestType;
  if (!rlhf::test::system_available<B>()) {
    WARN(B::name() << ": no device, skipped");
    return;
  }
  typename B::template buffer<float> wte(shape{5, 4}), wpe(shape{3, 4}), out(shape{2, 4});
  auto tok = upload<B>(ids({1, 5}), shape{2});
  auto pos = upload<B>(ids({0, 1}), shape{2});
  CHECK_THROWS_AS(B::embedding_forward(out.view(), wte.view(), wpe.view(), tok.view(), pos.view()),
                  rlhf::invalid_argument);
  CHECK_THROWS_WITH(B::embedding_forward(out.view(), wte.view(), wpe.view(), tok.view(), pos.view()),
                    Catch::Contains("tokens[1] = 5"));
  auto tok_ok = upload<B>(ids({1, 4}), shape{2});
  auto pos_bad = upload<B>(ids({0, 3}), shape{2});
  CHECK_THROWS_AS(B::embedding_forward(out.view(), wte.view(), wpe.view(), tok_ok.view(), pos_bad.view()),
                  rlhf::invalid_argument);
  CHECK_THROWS_AS(B::embedding_backward(wte.view(), wpe.view(), out.view(), tok.view(), pos.view()),
                  rlhf::invalid_argument);

  typename B::template buffer<float> logits(shape{2, 5}), logp(shape{2}), lse(shape{2});
  auto targets = upload<B>(ids({-1, 5}), shape{2});
  CHECK_THROWS_AS(B::cross_entropy_forward(logp.view(), lse.view(), logits.view(), targets.view()),
                  rlhf::invalid_argument);
  auto rows = upload<B>(ids({0, 2}), shape{2});
  typename B::template buffer<float> table(shape{2, 3}), picked(shape{2, 3});
  CHECK_THROWS_AS(B::gather_rows(picked.view(), table.view(), rows.view()), rlhf::invalid_argument);
  CHECK_THROWS_AS(B::scatter_add_rows(table.view(), picked.view(), rows.view()), rlhf::invalid_argument);

  typename B::template buffer<float> a(shape{2, 3}), b(shape{3, 2});
  CHECK_THROWS_AS(B::copy(a.view(), b.view()), rlhf::invalid_argument);
  CHECK_THROWS_AS(B::matmul_forward(a.view(), a.view(), a.view(), {}, false), rlhf::invalid_argument);
  typename B::template buffer<float> q(shape{1, 2, 6}), p(shape{1, 4, 2, 2});
  CHECK_THROWS_AS(B::attention_forward(q.view(), p.view(), q.view(), q.view(), q.view(), {}, {}, {}, {}, 4),
                  rlhf::invalid_argument);
  CHECK_THROWS_AS(B::adamw_update(a.view(), a.view(), a.view(), a.view(), 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 0),
                  rlhf::invalid_argument);
}

TEST_CASE("thrust cross_entropy ignores negative targets and matches log-softmax", "[thrust][softmax]") {
  using B = thrust_host;
  const std::vector<double> x{1, 2, 3, 0.5, -1, 4};
  auto dx = upload<B>(x, shape{2, 3});
  auto t = upload<B>(ids({2, -1}), shape{2});
  B::buffer<double> logp(shape{2}), lse(shape{2}), ls(shape{2, 3});
  B::cross_entropy_forward(logp.view(), lse.view(), dx.view(), t.view());
  B::log_softmax_forward(ls.view(), dx.view());
  const auto hl = download<B>(logp.view()), hlse = download<B>(lse.view()), hls = download<B>(ls.view());
  CHECK(hl[0] == Approx(hls[2]).epsilon(1e-14));
  CHECK(hl[1] == 0.0);
  CHECK(hlse[0] == Approx(std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0))).epsilon(1e-14));
  CHECK(hlse[1] == Approx(std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(4.0))).epsilon(1e-14));
}

TEST_CASE("thrust adamw matches the bias-corrected update written out by hand", "[thrust][adamw]") {
  using B = thrust_host;
  auto p = upload<B>(std::vector<double>{1.0, -2.0}, shape{2});
  auto g = upload<B>(std::vector<double>{0.5, 0.25}, shape{2});
  B::buffer<double> m(shape{2}), v(shape{2});
  const double lr = 0.1, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.01;
  B::adamw_update(p.view(), g.view(), m.view(), v.view(), lr, b1, b2, eps, wd, 1);
  const auto hp = download<B>(p.view());
  // Step 1: m̂ = g, v̂ = g², so the update is lr·(g/(|g| + eps) + wd·θ).
  CHECK(hp[0] == Approx(1.0 - lr * (0.5 / (0.5 + eps) + wd * 1.0)).epsilon(1e-14));
  CHECK(hp[1] == Approx(-2.0 - lr * (0.25 / (0.25 + eps) + wd * -2.0)).epsilon(1e-14));
  CHECK(download<B>(m.view())[0] == Approx(0.05).epsilon(1e-14));
  CHECK(download<B>(v.view())[1] == Approx(0.01 * 0.0625).epsilon(1e-14));
}

TEST_CASE("thrust_host results do not depend on the number of OpenMP threads", "[thrust][determinism]") {
  using B = thrust_host;
  const index_t m = 70, k = 90, n = 80, big = 100003;
  const auto x = random_floats(static_cast<std::size_t>(m * k), 31);
  const auto w = random_floats(static_cast<std::size_t>(k * n), 32);
  const auto v = random_floats(static_cast<std::size_t>(big), 33);
  auto dx = upload<B>(x, shape{m, k});
  auto dw = upload<B>(w, shape{k, n});
  auto dv = upload<B>(v, shape{big});
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    B::buffer<float> out(shape{m, n}), gw(shape{k, n});
    B::matmul_forward(out.view(), dx.view(), dw.view(), {}, false);
    B::matmul_backward({}, gw.view(), {}, out.view(), dx.view(), dw.view(), false);
    const double s = B::sum(dv.view()), s2 = B::sum_squares(dv.view());
    omp_set_num_threads(saved);
    return std::make_tuple(download<B>(out.view()), download<B>(gw.view()), s, s2);
  };
  // Bitwise equality: tiles and partial sums are fixed by the shapes, not by the threads.
  CHECK(run(1) == run(3));
}
