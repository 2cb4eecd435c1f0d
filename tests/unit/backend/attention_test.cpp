// SPDX-License-Identifier: MIT
// attention_forward over a KV cache equals attention without one: prefill + continuation, and
// candidate scoring (several query rows reading one cache row); kv_write; the probs layout.
#include "backend_fixture.hpp"

namespace {

using namespace rlhf;
using namespace rlhf::test;

/// Full causal attention without a cache: (out, probs) on the host.
template <class B, class T>
std::pair<std::vector<T>, std::vector<T>> attend(const std::vector<double>& q, const std::vector<double>& k,
                                                 const std::vector<double>& v, index_t Bn, index_t T_, index_t C,
                                                 int NH) {
  auto qb = upload<B, T>(q, {Bn, T_, C});
  auto kb = upload<B, T>(k, {Bn, T_, C});
  auto vb = upload<B, T>(v, {Bn, T_, C});
  typename B::template buffer<T> out(shape{Bn, T_, C}), probs(shape{Bn, NH, T_, T_});
  B::attention_forward(out.view(), probs.view(), qb.view(), kb.view(), vb.view(), none<B, const T>(),
                       none<B, const T>(), none<B, const std::int32_t>(), none<B, const std::int32_t>(), NH);
  return {download<B>(out), download<B>(probs)};
}

/// Rows [t0, t0 + n) of every batch row of a (Bn, T, C) host tensor.
std::vector<double> time_slice(const std::vector<double>& x, index_t Bn, index_t T_, index_t C, index_t t0,
                               index_t n) {
  std::vector<double> r;
  for (index_t b = 0; b < Bn; ++b)
    r.insert(r.end(), x.begin() + (b * T_ + t0) * C, x.begin() + (b * T_ + t0 + n) * C);
  return r;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("attention: hand-computed single head", "[backend][attention]", backends) {
  using B = TestType;
  // T = 2, C = hs = 1: scores q_i k_j; query 0 sees key 0 only, query 1 softmax over 2 keys.
  const std::vector<double> q{1.0, std::log(3.0)}, k{0.0, 1.0}, v{2.0, 6.0};
  auto [out, probs] = attend<B, double>(q, k, v, 1, 2, 1, 1);
  // Row 1: scores (0, ln 3) → weights (1/4, 3/4) → out = 0.5 + 4.5 = 5.
  CHECK(probs[0] == Approx(1.0));
  CHECK(probs[1] == 0.0);
  CHECK(probs[2] == Approx(0.25));
  CHECK(probs[3] == Approx(0.75));
  CHECK(out[0] == Approx(2.0));
  CHECK(out[1] == Approx(5.0));
}

TEMPLATE_LIST_TEST_CASE("attention: prefill into a KV cache, then the rest, equals no cache",
                        "[backend][attention]", backends) {
  using B = TestType;
  const index_t Bn = 2, T = 6, C = 8, Tcap = 9, half = 3;
  const int NH = 2;
  const auto q = random_vector(Bn * T * C, 31), k = random_vector(Bn * T * C, 32), v = random_vector(Bn * T * C, 33);
  const auto [want_out, want_probs] = attend<B, double>(q, k, v, Bn, T, C, NH);

  typename B::template buffer<double> kc(shape{Bn, Tcap, C}), vc(shape{Bn, Tcap, C});
  auto rows = upload<B, std::int32_t>(std::vector<std::int32_t>{1, 0}, {Bn});  // batch row b uses cache row 1-b
  auto zero = upload<B, std::int32_t>(std::vector<std::int32_t>{0, 0}, {Bn});
  auto count = upload<B, std::int32_t>(std::vector<std::int32_t>{half, half}, {Bn});
  // Prefill: the first half without a cache, then write k, v.
  auto q1 = upload<B, double>(time_slice(q, Bn, T, C, 0, half), {Bn, half, C});
  auto k1 = upload<B, double>(time_slice(k, Bn, T, C, 0, half), {Bn, half, C});
  auto v1 = upload<B, double>(time_slice(v, Bn, T, C, 0, half), {Bn, half, C});
  typename B::template buffer<double> out1(shape{Bn, half, C}), p1(shape{Bn, NH, half, half});
  B::attention_forward(out1.view(), p1.view(), q1.view(), k1.view(), v1.view(), kc.view(), vc.view(), rows.view(),
                       zero.view(), NH);
  B::kv_write(kc.view(), k1.view(), rows.view(), zero.view(), count.view());
  B::kv_write(vc.view(), v1.view(), rows.view(), zero.view(), count.view());
  // Continuation: the second half against cache_len = half.
  auto len = upload<B, std::int32_t>(std::vector<std::int32_t>{half, half}, {Bn});
  auto q2 = upload<B, double>(time_slice(q, Bn, T, C, half, T - half), {Bn, T - half, C});
  auto k2 = upload<B, double>(time_slice(k, Bn, T, C, half, T - half), {Bn, T - half, C});
  auto v2 = upload<B, double>(time_slice(v, Bn, T, C, half, T - half), {Bn, T - half, C});
  const index_t S = half + (T - half) + 1;  // one spare column: must stay 0
  typename B::template buffer<double> out2(shape{Bn, T - half, C}), p2(shape{Bn, NH, T - half, S});
  B::attention_forward(out2.view(), p2.view(), q2.view(), k2.view(), v2.view(), kc.view(), vc.view(), rows.view(),
                       len.view(), NH);

  const auto got1 = download<B>(out1), got2 = download<B>(out2);
  const auto w1 = time_slice(want_out, Bn, T, C, 0, half), w2 = time_slice(want_out, Bn, T, C, half, T - half);
  CHECK(relative_error(got1, w1) < 1e-12);
  CHECK(relative_error(got2, w2) < 1e-12);
  // probs of the continuation: row i of (b, h) holds the full-attention row half + i, padded with 0.
  const auto pr = download<B>(p2);
  for (index_t b = 0; b < Bn; ++b)
    for (index_t h = 0; h < NH; ++h)
      for (index_t i = 0; i < T - half; ++i) {
        for (index_t j = 0; j < T; ++j)
          CHECK(pr[static_cast<std::size_t>(((b * NH + h) * (T - half) + i) * S + j)] ==
                Approx(want_probs[static_cast<std::size_t>(((b * NH + h) * T + half + i) * T + j)]).margin(1e-14));
        CHECK(pr[static_cast<std::size_t>(((b * NH + h) * (T - half) + i) * S + T)] == 0.0);
      }
}

TEMPLATE_LIST_TEST_CASE("attention: candidate scoring reads one cache row from several query rows",
                        "[backend][attention]", backends) {
  using B = TestType;
  // One prefix of length P in cache row 0; K candidate next tokens, each a one-token query row.
  const index_t P = 4, K = 3, C = 8, Tcap = 6;
  const int NH = 2;
  const auto q = random_vector((P + 1) * C * K, 41), k = random_vector((P + 1) * C * K, 42),
             v = random_vector((P + 1) * C * K, 43);
  // Reference: for candidate c, full attention over prefix (shared: candidate 0's first P rows)
  // followed by the candidate's own row.
  auto seq = [&](const std::vector<double>& x, index_t c) {
    std::vector<double> r(x.begin(), x.begin() + P * C);
    r.insert(r.end(), x.begin() + (P + c) * C, x.begin() + (P + c + 1) * C);
    return r;
  };
  typename B::template buffer<double> kc(shape{1, Tcap, C}), vc(shape{1, Tcap, C});
  {
    auto kp = upload<B, double>(std::vector<double>(k.begin(), k.begin() + P * C), {1, P, C});
    auto vp = upload<B, double>(std::vector<double>(v.begin(), v.begin() + P * C), {1, P, C});
    auto r0 = upload<B, std::int32_t>(std::vector<std::int32_t>{0}, {1});
    auto l0 = upload<B, std::int32_t>(std::vector<std::int32_t>{0}, {1});
    auto n0 = upload<B, std::int32_t>(std::vector<std::int32_t>{static_cast<std::int32_t>(P)}, {1});
    B::kv_write(kc.view(), kp.view(), r0.view(), l0.view(), n0.view());
    B::kv_write(vc.view(), vp.view(), r0.view(), l0.view(), n0.view());
  }
  auto cand = [&](const std::vector<double>& x) {
    std::vector<double> r;
    for (index_t c = 0; c < K; ++c) r.insert(r.end(), x.begin() + (P + c) * C, x.begin() + (P + c + 1) * C);
    return upload<B, double>(r, {K, 1, C});
  };
  auto qc = cand(q), kn = cand(k), vn = cand(v);
  auto rows = upload<B, std::int32_t>(std::vector<std::int32_t>(static_cast<std::size_t>(K), 0), {K});
  auto lens = upload<B, std::int32_t>(std::vector<std::int32_t>(static_cast<std::size_t>(K), P), {K});
  typename B::template buffer<double> out(shape{K, 1, C}), probs(shape{K, NH, 1, P + 1});
  B::attention_forward(out.view(), probs.view(), qc.view(), kn.view(), vn.view(), kc.view(), vc.view(), rows.view(),
                       lens.view(), NH);
  const auto got = download<B>(out);
  for (index_t c = 0; c < K; ++c) {
    const auto [want, wp] = attend<B, double>(seq(q, c), seq(k, c), seq(v, c), 1, P + 1, C, NH);
    const std::vector<double> last(want.begin() + P * C, want.end());
    const std::vector<double> mine(got.begin() + c * C, got.begin() + (c + 1) * C);
    INFO("candidate " << c);
    CHECK(relative_error(mine, last) < 1e-12);
  }
  // The cache was read, not written: positions >= P are still zero.
  const auto kh = download<B>(kc);
  for (index_t i = P * C; i < Tcap * C; ++i) CHECK(kh[static_cast<std::size_t>(i)] == 0.0);
}

TEMPLATE_LIST_TEST_CASE("attention: float agrees with double", "[backend][attention]", backends) {
  using B = TestType;
  const index_t Bn = 2, T = 7, C = 16;
  const int NH = 4;
  const auto q = random_vector(Bn * T * C, 51), k = random_vector(Bn * T * C, 52), v = random_vector(Bn * T * C, 53);
  const auto [od, pd] = attend<B, double>(q, k, v, Bn, T, C, NH);
  const auto [of, pf] = attend<B, float>(q, k, v, Bn, T, C, NH);
  CHECK(max_rel_diff(as_double(of), od) < 1e-5);
  CHECK(max_rel_diff(as_double(pf), pd) < 1e-5);
}

TEMPLATE_LIST_TEST_CASE("attention and kv_write reject bad input", "[backend][attention][errors]", backends) {
  using B = TestType;
  const index_t Bn = 2, T = 3, C = 8;
  auto q = upload<B, float>(random_vector(Bn * T * C, 61), {Bn, T, C});
  typename B::template buffer<float> out(shape{Bn, T, C}), probs(shape{Bn, 2, T, T}), kc(shape{2, 4, C}),
      vc(shape{2, 4, C});
  auto ni = none<B, const std::int32_t>();
  auto nf = none<B, const float>();
  // n_head must divide C.
  CHECK_THROWS_AS(B::attention_forward(out.view(), probs.view(), q.view(), q.view(), q.view(), nf, nf, ni, ni, 3),
                  rlhf::invalid_argument);
  // probs too narrow for cache_len + Tq.
  auto rows = upload<B, std::int32_t>(std::vector<std::int32_t>{0, 1}, {Bn});
  auto lens = upload<B, std::int32_t>(std::vector<std::int32_t>{1, 1}, {Bn});
  CHECK_THROWS_AS(B::attention_forward(out.view(), probs.view(), q.view(), q.view(), q.view(), kc.view(), vc.view(),
                                       rows.view(), lens.view(), 2),
                  rlhf::invalid_argument);
  // cache_row outside the cache.
  auto bad_rows = upload<B, std::int32_t>(std::vector<std::int32_t>{0, 2}, {Bn});
  typename B::template buffer<float> wide(shape{Bn, 2, T, T + 1});
  CHECK_THROWS_AS(B::attention_forward(out.view(), wide.view(), q.view(), q.view(), q.view(), kc.view(), vc.view(),
                                       bad_rows.view(), lens.view(), 2),
                  rlhf::invalid_argument);
  // kv_write past the capacity (len 2 + count 3 > 4).
  auto len2 = upload<B, std::int32_t>(std::vector<std::int32_t>{2, 0}, {Bn});
  auto cnt = upload<B, std::int32_t>(std::vector<std::int32_t>{3, 3}, {Bn});
  CHECK_THROWS_AS(B::kv_write(kc.view(), q.view(), rows.view(), len2.view(), cnt.view()), rlhf::invalid_argument);
  // Nothing was written by the failed call.
  for (float x : download<B>(kc)) CHECK(x == 0.0f);
}
