// SPDX-License-Identifier: MIT
// Every backward kernel against central finite differences of its forward kernel, in double:
// L = Σ w ⊙ out with fixed random w, gradients accumulated onto a random non-zero initial value
// (backward kernels accumulate), relative error < 1e-6.
#include "backend_fixture.hpp"

namespace {

using namespace rlhf;
using namespace rlhf::test;

constexpr double tolerance = 1e-6;

/// Compares the gradient of Σ w ⊙ forward() with respect to x (finite differences) with what
/// backward(grad view) accumulates, given dout = w.
template <class B, class Fwd, class Bwd>
void check_gradient(const char* what, std::vector<double>& x, shape xs, const std::vector<double>& w, Fwd&& forward,
                    Bwd&& backward) {
  const auto numeric = numerical_gradient([&] { return weighted_sum(w, forward()); }, std::span<double>(x));
  const auto initial = random_vector(x.size(), 4242, 0.5);
  auto grad = upload<B, double>(initial, xs);
  backward(grad.view());
  const auto analytic = minus(as_double(download<B>(grad)), initial);
  INFO(what << ": analytic vs numeric gradient");
  CHECK(relative_error(analytic, numeric) < tolerance);
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("matmul_backward matches finite differences", "[backend][gradcheck]", backends) {
  using B = TestType;
  const index_t M = 3, K = 4, N = 5;
  for (bool tr : {false, true}) {
    const shape ws = tr ? shape{N, K} : shape{K, N};
    auto inp = random_vector(M * K, 1), wt = random_vector(K * N, 2), bias = random_vector(N, 3);
    const auto w = random_vector(M * N, 4);
    auto fwd = [&] {
      auto i = upload<B, double>(inp, {1, M, K});
      auto W = upload<B, double>(wt, ws);
      auto b = upload<B, double>(bias, {N});
      typename B::template buffer<double> out(shape{1, M, N});
      B::matmul_forward(out.view(), i.view(), W.view(), b.view(), tr);
      return download<B>(out);
    };
    auto bwd = [&](auto dinp, auto dW, auto db) {
      auto i = upload<B, double>(inp, {1, M, K});
      auto W = upload<B, double>(wt, ws);
      auto g = upload<B, double>(w, {1, M, N});
      B::matmul_backward(dinp, dW, db, g.view(), i.view(), W.view(), tr);
    };
    auto no = none<B, double>();
    INFO("transpose_weight = " << tr);
    check_gradient<B>("matmul dinp", inp, {1, M, K}, w, fwd, [&](auto d) { bwd(d, no, no); });
    check_gradient<B>("matmul dweight", wt, ws, w, fwd, [&](auto d) { bwd(no, d, no); });
    check_gradient<B>("matmul dbias", bias, {N}, w, fwd, [&](auto d) { bwd(no, no, d); });
  }
}

TEMPLATE_LIST_TEST_CASE("layernorm_backward matches finite differences", "[backend][gradcheck]", backends) {
  using B = TestType;
  const index_t N = 3, C = 6;
  auto x = random_vector(N * C, 5, 2.0), wt = random_vector(C, 6), bias = random_vector(C, 7);
  const auto w = random_vector(N * C, 8);
  struct saved {
    typename B::template buffer<double> out, mean, rstd;
  };
  auto run = [&] {
    auto i = upload<B, double>(x, {N, C});
    auto g = upload<B, double>(wt, {C});
    auto b = upload<B, double>(bias, {C});
    saved s{typename B::template buffer<double>(shape{N, C}), typename B::template buffer<double>(shape{N}),
            typename B::template buffer<double>(shape{N})};
    B::layernorm_forward(s.out.view(), s.mean.view(), s.rstd.view(), i.view(), g.view(), b.view(), 1e-5);
    return s;
  };
  auto fwd = [&] { return download<B>(run().out); };
  auto bwd = [&](auto dinp, auto dw, auto db) {
    auto s = run();
    auto i = upload<B, double>(x, {N, C});
    auto g = upload<B, double>(wt, {C});
    auto d = upload<B, double>(w, {N, C});
    B::layernorm_backward(dinp, dw, db, d.view(), i.view(), g.view(), s.mean.view(), s.rstd.view());
  };
  auto no = none<B, double>();
  check_gradient<B>("layernorm dinp", x, {N, C}, w, fwd, [&](auto d) { bwd(d, no, no); });
  check_gradient<B>("layernorm dweight", wt, {C}, w, fwd, [&](auto d) { bwd(no, d, no); });
  check_gradient<B>("layernorm dbias", bias, {C}, w, fwd, [&](auto d) { bwd(no, no, d); });
}

TEMPLATE_LIST_TEST_CASE("gelu_backward matches finite differences", "[backend][gradcheck]", backends) {
  using B = TestType;
  const index_t N = 24;
  auto x = random_vector(N, 9, 2.5);
  const auto w = random_vector(N, 10);
  auto fwd = [&] {
    auto i = upload<B, double>(x, {N});
    typename B::template buffer<double> out(shape{N});
    B::gelu_forward(out.view(), i.view());
    return download<B>(out);
  };
  check_gradient<B>("gelu dinp", x, {N}, w, fwd, [&](auto d) {
    auto i = upload<B, double>(x, {N});
    auto g = upload<B, double>(w, {N});
    B::gelu_backward(d, g.view(), i.view());
  });
}

TEMPLATE_LIST_TEST_CASE("softmax, log_softmax and logsumexp backward match finite differences",
                        "[backend][gradcheck]", backends) {
  using B = TestType;
  const index_t N = 3, V = 7;
  auto x = random_vector(N * V, 11, 3.0);
  const auto w = random_vector(N * V, 12), wn = random_vector(N, 13);
  auto rowwise = [&](bool log) {
    auto i = upload<B, double>(x, {N, V});
    typename B::template buffer<double> out(shape{N, V});
    if (log)
      B::log_softmax_forward(out.view(), i.view());
    else
      B::softmax_forward(out.view(), i.view());
    return out;
  };
  check_gradient<B>("softmax dx", x, {N, V}, w, [&] { return download<B>(rowwise(false)); }, [&](auto d) {
    auto p = rowwise(false);
    auto g = upload<B, double>(w, {N, V});
    B::softmax_backward(d, g.view(), p.view());
  });
  check_gradient<B>("log_softmax dx", x, {N, V}, w, [&] { return download<B>(rowwise(true)); }, [&](auto d) {
    auto lp = rowwise(true);
    auto g = upload<B, double>(w, {N, V});
    B::log_softmax_backward(d, g.view(), lp.view());
  });
  auto lse = [&] {
    auto i = upload<B, double>(x, {N, V});
    typename B::template buffer<double> out(shape{N});
    B::logsumexp_forward(out.view(), i.view());
    return out;
  };
  check_gradient<B>("logsumexp dx", x, {N, V}, wn, [&] { return download<B>(lse()); }, [&](auto d) {
    auto l = lse();
    auto i = upload<B, double>(x, {N, V});
    auto g = upload<B, double>(wn, {N});
    B::logsumexp_backward(d, g.view(), i.view(), l.view());
  });
}

TEMPLATE_LIST_TEST_CASE("cross_entropy_backward matches finite differences", "[backend][gradcheck]", backends) {
  using B = TestType;
  const index_t N = 4, V = 6;
  auto x = random_vector(N * V, 14, 2.0);
  const auto w = random_vector(N, 15);
  const std::vector<std::int32_t> targets{1, -1, 5, 0};
  auto run = [&] {
    auto i = upload<B, double>(x, {N, V});
    auto t = upload<B, std::int32_t>(targets, {N});
    typename B::template buffer<double> logp(shape{N}), lse(shape{N});
    B::cross_entropy_forward(logp.view(), lse.view(), i.view(), t.view());
    return std::pair{std::move(logp), std::move(lse)};
  };
  check_gradient<B>("cross_entropy dlogits", x, {N, V}, w, [&] { return download<B>(run().first); }, [&](auto d) {
    auto [logp, lse] = run();
    auto i = upload<B, double>(x, {N, V});
    auto t = upload<B, std::int32_t>(targets, {N});
    auto g = upload<B, double>(w, {N});
    B::cross_entropy_backward(d, g.view(), i.view(), lse.view(), t.view());
  });
}

TEMPLATE_LIST_TEST_CASE("embedding_backward and scatter_add_rows match finite differences", "[backend][gradcheck]",
                        backends) {
  using B = TestType;
  const index_t V = 5, P = 4, C = 3, Bn = 2, T = 3;
  auto wte = random_vector(V * C, 16), wpe = random_vector(P * C, 17);
  const std::vector<std::int32_t> tokens{4, 1, 4, 0, 4, 2}, positions{0, 1, 2, 1, 2, 3};
  const auto w = random_vector(Bn * T * C, 18);
  auto fwd = [&] {
    auto e = upload<B, double>(wte, {V, C});
    auto p = upload<B, double>(wpe, {P, C});
    auto tk = upload<B, std::int32_t>(tokens, {Bn, T});
    auto ps = upload<B, std::int32_t>(positions, {Bn, T});
    typename B::template buffer<double> out(shape{Bn, T, C});
    B::embedding_forward(out.view(), e.view(), p.view(), tk.view(), ps.view());
    return download<B>(out);
  };
  auto bwd = [&](auto dwte, auto dwpe) {
    auto tk = upload<B, std::int32_t>(tokens, {Bn, T});
    auto ps = upload<B, std::int32_t>(positions, {Bn, T});
    auto g = upload<B, double>(w, {Bn, T, C});
    B::embedding_backward(dwte, dwpe, g.view(), tk.view(), ps.view());
  };
  auto no = none<B, double>();
  check_gradient<B>("embedding dwte", wte, {V, C}, w, fwd, [&](auto d) { bwd(d, no); });
  check_gradient<B>("embedding dwpe", wpe, {P, C}, w, fwd, [&](auto d) { bwd(no, d); });

  // gather_rows / scatter_add_rows: rows 2 and 0 of a (3, 2, 2) tensor, row 2 twice.
  auto src = random_vector(12, 19);
  const std::vector<std::int32_t> idx{2, 0, 2};
  const auto wg = random_vector(12, 20);
  auto gather = [&] {
    auto s = upload<B, double>(src, {3, 2, 2});
    auto ix = upload<B, std::int32_t>(idx, {3});
    typename B::template buffer<double> out(shape{3, 2, 2});
    B::gather_rows(out.view(), s.view(), ix.view());
    return download<B>(out);
  };
  check_gradient<B>("scatter_add_rows", src, {3, 2, 2}, wg, gather, [&](auto d) {
    auto ix = upload<B, std::int32_t>(idx, {3});
    auto g = upload<B, double>(wg, {3, 2, 2});
    B::scatter_add_rows(d, g.view(), ix.view());
  });
}

TEMPLATE_LIST_TEST_CASE("split_qkv_backward matches finite differences", "[backend][gradcheck]", backends) {
  using B = TestType;
  const index_t Bn = 2, T = 3, C = 4;
  auto qkv = random_vector(Bn * T * 3 * C, 21);
  const auto w = random_vector(3 * Bn * T * C, 22);  // weights of [q; k; v] concatenated
  auto fwd = [&] {
    auto s = upload<B, double>(qkv, {Bn, T, 3 * C});
    typename B::template buffer<double> q(shape{Bn, T, C}), k(shape{Bn, T, C}), v(shape{Bn, T, C});
    B::split_qkv(q.view(), k.view(), v.view(), s.view());
    auto out = download<B>(q);
    for (auto* b : {&k, &v}) {
      auto part = download<B>(*b);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  };
  check_gradient<B>("split_qkv dqkv", qkv, {Bn, T, 3 * C}, w, fwd, [&](auto d) {
    const std::size_t n = static_cast<std::size_t>(Bn * T * C);
    auto part = [&](std::size_t j) {
      return upload<B, double>(std::vector<double>(w.begin() + j * n, w.begin() + (j + 1) * n), {Bn, T, C});
    };
    auto dq = part(0), dk = part(1), dv = part(2);
    B::split_qkv_backward(d, dq.view(), dk.view(), dv.view());
  });
}

TEMPLATE_LIST_TEST_CASE("attention_backward matches finite differences", "[backend][gradcheck][attention]",
                        backends) {
  using B = TestType;
  const index_t Bn = 2, T = 5, C = 8;
  const int NH = 2;
  auto q = random_vector(Bn * T * C, 23), k = random_vector(Bn * T * C, 24), v = random_vector(Bn * T * C, 25);
  const auto w = random_vector(Bn * T * C, 26);
  auto run = [&] {
    auto qb = upload<B, double>(q, {Bn, T, C});
    auto kb = upload<B, double>(k, {Bn, T, C});
    auto vb = upload<B, double>(v, {Bn, T, C});
    typename B::template buffer<double> out(shape{Bn, T, C}), probs(shape{Bn, NH, T, T});
    auto no = none<B, const double>();
    auto ni = none<B, const std::int32_t>();
    B::attention_forward(out.view(), probs.view(), qb.view(), kb.view(), vb.view(), no, no, ni, ni, NH);
    return std::pair{std::move(out), std::move(probs)};
  };
  auto fwd = [&] { return download<B>(run().first); };
  auto bwd = [&](auto dq, auto dk, auto dv) {
    auto [out, probs] = run();
    auto qb = upload<B, double>(q, {Bn, T, C});
    auto kb = upload<B, double>(k, {Bn, T, C});
    auto vb = upload<B, double>(v, {Bn, T, C});
    auto g = upload<B, double>(w, {Bn, T, C});
    B::attention_backward(dq, dk, dv, g.view(), qb.view(), kb.view(), vb.view(), probs.view(), NH);
  };
  auto no = none<B, double>();
  check_gradient<B>("attention dq", q, {Bn, T, C}, w, fwd, [&](auto d) { bwd(d, no, no); });
  check_gradient<B>("attention dk", k, {Bn, T, C}, w, fwd, [&](auto d) { bwd(no, d, no); });
  check_gradient<B>("attention dv", v, {Bn, T, C}, w, fwd, [&](auto d) { bwd(no, no, d); });
}
