// SPDX-License-Identifier: MIT
// Finite-difference checks (double precision, central differences) of every backward kernel of
// the thrust backend. Each check draws a random cotangent r, takes L = Σ r ⊙ forward(inputs),
// and compares the backward kernel's gradient with numerical_gradient(L). Gradients start at a
// non-zero value so the check also proves that backward kernels accumulate (+=).
#include <catch2/catch.hpp>

#include <functional>
#include <vector>

#include "support/gradcheck.hpp"
#include "thrust_support.hpp"

using rlhf::index_t;
using rlhf::shape;
using rlhf::test::download;
using rlhf::test::upload;
using B = rlhf::backend::thrust_host;
using buf = B::buffer<double>;
using vec = std::vector<double>;

namespace {
constexpr double seed_grad = 0.25;  // initial value of every gradient buffer
constexpr double tolerance = 1e-7;

double dot(const vec& a, const vec& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

/// A gradient buffer of shape s pre-filled with seed_grad.
buf grad_buffer(shape s) {
  buf g(s);
  B::fill(g.view(), seed_grad);
  return g;
}
/// The accumulated gradient minus its seed.
vec grad_of(const buf& g) {
  auto h = download<B>(g.view());
  for (double& x : h) x -= seed_grad;
  return h;
}

/// Checks d(Σ r ⊙ forward())/d inputs[i] against analytic[i] for every input.
void check_gradients(std::vector<vec*> inputs, const std::function<vec()>& forward, const vec& r,
                     const std::vector<vec>& analytic) {
  REQUIRE(inputs.size() == analytic.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    CAPTURE(i);
    const auto numeric = rlhf::test::numerical_gradient([&] { return dot(r, forward()); },
                                                        std::span<double>(*inputs[i]));
    CHECK(rlhf::test::relative_error(numeric, analytic[i]) < tolerance);
  }
}
vec rnd(index_t n, std::uint64_t seed, double scale = 1.0) {
  return rlhf::test::random_vector(static_cast<std::size_t>(n), seed, scale);
}
}  // namespace

TEST_CASE("thrust matmul_backward is the gradient of matmul_forward", "[thrust][gradcheck]") {
  const index_t m = 5, k = 7, n = 6;
  for (const bool tr : {false, true}) {
    CAPTURE(tr);
    vec x = rnd(m * k, 1), w = rnd(k * n, 2), bias = rnd(n, 3);
    const vec r = rnd(m * n, 4);
    const shape ws = tr ? shape{n, k} : shape{k, n};
    auto forward = [&] {
      auto dx = upload<B>(x, shape{m, k});
      auto dw = upload<B>(w, ws);
      auto db = upload<B>(bias, shape{n});
      buf out(shape{m, n});
      B::matmul_forward(out.view(), dx.view(), dw.view(), db.view(), tr);
      return download<B>(out.view());
    };
    auto dx = upload<B>(x, shape{m, k});
    auto dw = upload<B>(w, ws);
    auto dout = upload<B>(r, shape{m, n});
    auto gx = grad_buffer(shape{m, k}), gw = grad_buffer(ws), gb = grad_buffer(shape{n});
    B::matmul_backward(gx.view(), gw.view(), gb.view(), dout.view(), dx.view(), dw.view(), tr);
    check_gradients({&x, &w, &bias}, forward, r, {grad_of(gx), grad_of(gw), grad_of(gb)});
  }
}

TEST_CASE("thrust layernorm_backward is the gradient of layernorm_forward", "[thrust][gradcheck]") {
  const index_t n = 4, c = 9;
  vec x = rnd(n * c, 5, 2.0), w = rnd(c, 6), b = rnd(c, 7);
  const vec r = rnd(n * c, 8);
  auto forward = [&] {
    auto dx = upload<B>(x, shape{2, 2, c});
    auto dw = upload<B>(w, shape{c});
    auto db = upload<B>(b, shape{c});
    buf out(shape{2, 2, c}), mean(shape{2, 2}), rstd(shape{2, 2});
    B::layernorm_forward(out.view(), mean.view(), rstd.view(), dx.view(), dw.view(), db.view(), 1e-5);
    return download<B>(out.view());
  };
  auto dx = upload<B>(x, shape{2, 2, c});
  auto dw = upload<B>(w, shape{c});
  auto db = upload<B>(b, shape{c});
  buf out(shape{2, 2, c}), mean(shape{2, 2}), rstd(shape{2, 2});
  B::layernorm_forward(out.view(), mean.view(), rstd.view(), dx.view(), dw.view(), db.view(), 1e-5);
  auto dout = upload<B>(r, shape{2, 2, c});
  auto gx = grad_buffer(shape{2, 2, c}), gw = grad_buffer(shape{c}), gb = grad_buffer(shape{c});
  B::layernorm_backward(gx.view(), gw.view(), gb.view(), dout.view(), dx.view(), dw.view(),
                        mean.view(), rstd.view());
  check_gradients({&x, &w, &b}, forward, r, {grad_of(gx), grad_of(gw), grad_of(gb)});
}

TEST_CASE("thrust gelu_backward is the gradient of gelu_forward", "[thrust][gradcheck]") {
  vec x = rnd(40, 9, 3.0);
  const vec r = rnd(40, 10);
  auto forward = [&] {
    auto dx = upload<B>(x, shape{40});
    buf out(shape{40});
    B::gelu_forward(out.view(), dx.view());
    return download<B>(out.view());
  };
  auto dx = upload<B>(x, shape{40});
  auto dout = upload<B>(r, shape{40});
  auto g = grad_buffer(shape{40});
  B::gelu_backward(g.view(), dout.view(), dx.view());
  check_gradients({&x}, forward, r, {grad_of(g)});
}

TEST_CASE("thrust softmax, log_softmax and logsumexp backward are their gradients",
          "[thrust][gradcheck]") {
  const index_t n = 3, v = 7;
  vec x = rnd(n * v, 11, 3.0);
  const vec r = rnd(n * v, 12), rn = rnd(n, 13);
  auto dx = upload<B>(x, shape{n, v});
  {
    auto forward = [&] {
      auto in = upload<B>(x, shape{n, v});
      buf out(shape{n, v});
      B::softmax_forward(out.view(), in.view());
      return download<B>(out.view());
    };
    buf p(shape{n, v});
    B::softmax_forward(p.view(), dx.view());
    auto dout = upload<B>(r, shape{n, v});
    auto g = grad_buffer(shape{n, v});
    B::softmax_backward(g.view(), dout.view(), p.view());
    check_gradients({&x}, forward, r, {grad_of(g)});
  }
  {
    auto forward = [&] {
      auto in = upload<B>(x, shape{n, v});
      buf out(shape{n, v});
      B::log_softmax_forward(out.view(), in.view());
      return download<B>(out.view());
    };
    buf lp(shape{n, v});
    B::log_softmax_forward(lp.view(), dx.view());
    auto dout = upload<B>(r, shape{n, v});
    auto g = grad_buffer(shape{n, v});
    B::log_softmax_backward(g.view(), dout.view(), lp.view());
    check_gradients({&x}, forward, r, {grad_of(g)});
  }
  {
    auto forward = [&] {
      auto in = upload<B>(x, shape{n, v});
      buf out(shape{n});
      B::logsumexp_forward(out.view(), in.view());
      return download<B>(out.view());
    };
    buf lse(shape{n});
    B::logsumexp_forward(lse.view(), dx.view());
    auto dout = upload<B>(rn, shape{n});
    auto g = grad_buffer(shape{n, v});
    B::logsumexp_backward(g.view(), dout.view(), dx.view(), lse.view());
    check_gradients({&x}, forward, rn, {grad_of(g)});
  }
}

TEST_CASE("thrust cross_entropy_backward is the gradient of the gathered log-probability",
          "[thrust][gradcheck]") {
  const index_t n = 4, v = 6;
  vec x = rnd(n * v, 14, 2.0);
  const vec r = rnd(n, 15);
  const std::vector<std::int32_t> t{3, -1, 0, 5};  // row 1 is ignored
  auto targets = upload<B>(t, shape{n});
  auto forward = [&] {
    auto in = upload<B>(x, shape{n, v});
    buf logp(shape{n}), lse(shape{n});
    B::cross_entropy_forward(logp.view(), lse.view(), in.view(), targets.view());
    return download<B>(logp.view());
  };
  auto dx = upload<B>(x, shape{n, v});
  buf logp(shape{n}), lse(shape{n});
  B::cross_entropy_forward(logp.view(), lse.view(), dx.view(), targets.view());
  auto dlogp = upload<B>(r, shape{n});
  auto g = grad_buffer(shape{n, v});
  B::cross_entropy_backward(g.view(), dlogp.view(), dx.view(), lse.view(), targets.view());
  const auto analytic = grad_of(g);
  for (index_t j = 0; j < v; ++j) CHECK(analytic[static_cast<std::size_t>(v + j)] == 0.0);
  check_gradients({&x}, forward, r, {analytic});
}

TEST_CASE("thrust embedding_backward is the gradient of embedding_forward", "[thrust][gradcheck]") {
  const index_t vocab = 5, npos = 4, c = 3, n = 6;
  vec wte = rnd(vocab * c, 16), wpe = rnd(npos * c, 17);
  const vec r = rnd(n * c, 18);
  // Repeated tokens and positions: the scatter-add must accumulate them.
  auto tok = upload<B>(std::vector<std::int32_t>{1, 4, 1, 0, 4, 1}, shape{2, 3});
  auto pos = upload<B>(std::vector<std::int32_t>{0, 1, 2, 0, 1, 3}, shape{2, 3});
  auto forward = [&] {
    auto te = upload<B>(wte, shape{vocab, c});
    auto pe = upload<B>(wpe, shape{npos, c});
    buf out(shape{2, 3, c});
    B::embedding_forward(out.view(), te.view(), pe.view(), tok.view(), pos.view());
    return download<B>(out.view());
  };
  auto dout = upload<B>(r, shape{2, 3, c});
  auto gte = grad_buffer(shape{vocab, c}), gpe = grad_buffer(shape{npos, c});
  B::embedding_backward(gte.view(), gpe.view(), dout.view(), tok.view(), pos.view());
  check_gradients({&wte, &wpe}, forward, r, {grad_of(gte), grad_of(gpe)});
}

TEST_CASE("thrust scatter_add_rows is the gradient of gather_rows", "[thrust][gradcheck]") {
  vec table = rnd(4 * 2 * 3, 19);
  const vec r = rnd(5 * 2 * 3, 20);
  auto idx = upload<B>(std::vector<std::int32_t>{3, 0, 3, 2, 3}, shape{5});
  auto forward = [&] {
    auto in = upload<B>(table, shape{4, 2, 3});
    buf out(shape{5, 2, 3});
    B::gather_rows(out.view(), in.view(), idx.view());
    return download<B>(out.view());
  };
  auto dout = upload<B>(r, shape{5, 2, 3});
  auto g = grad_buffer(shape{4, 2, 3});
  B::scatter_add_rows(g.view(), dout.view(), idx.view());
  check_gradients({&table}, forward, r, {grad_of(g)});
}

TEST_CASE("thrust split_qkv_backward is the gradient of split_qkv", "[thrust][gradcheck]") {
  const index_t nb = 2, t = 3, c = 4;
  vec qkv = rnd(nb * t * 3 * c, 21);
  const vec rq = rnd(nb * t * c, 22), rk = rnd(nb * t * c, 23), rv = rnd(nb * t * c, 24);
  vec r = rq;
  r.insert(r.end(), rk.begin(), rk.end());
  r.insert(r.end(), rv.begin(), rv.end());
  auto forward = [&] {
    auto in = upload<B>(qkv, shape{nb, t, 3 * c});
    buf q(shape{nb, t, c}), k(shape{nb, t, c}), v(shape{nb, t, c});
    B::split_qkv(q.view(), k.view(), v.view(), in.view());
    vec out = download<B>(q.view());
    for (const auto& part : {download<B>(k.view()), download<B>(v.view())})
      out.insert(out.end(), part.begin(), part.end());
    return out;
  };
  auto dq = upload<B>(rq, shape{nb, t, c});
  auto dk = upload<B>(rk, shape{nb, t, c});
  auto dv = upload<B>(rv, shape{nb, t, c});
  auto g = grad_buffer(shape{nb, t, 3 * c});
  B::split_qkv_backward(g.view(), dq.view(), dk.view(), dv.view());
  check_gradients({&qkv}, forward, r, {grad_of(g)});
}

TEST_CASE("thrust attention_backward is the gradient of causal attention", "[thrust][gradcheck]") {
  const index_t nb = 2, t = 4, c = 6, nh = 2;
  vec q = rnd(nb * t * c, 25), k = rnd(nb * t * c, 26), v = rnd(nb * t * c, 27);
  const vec r = rnd(nb * t * c, 28);
  const shape s{nb, t, c};
  auto forward = [&] {
    auto dq = upload<B>(q, s);
    auto dk = upload<B>(k, s);
    auto dv = upload<B>(v, s);
    buf out(s), probs(shape{nb, nh, t, t});
    B::attention_forward(out.view(), probs.view(), dq.view(), dk.view(), dv.view(), {}, {}, {}, {},
                         static_cast<int>(nh));
    return download<B>(out.view());
  };
  auto dq = upload<B>(q, s);
  auto dk = upload<B>(k, s);
  auto dv = upload<B>(v, s);
  buf out(s), probs(shape{nb, nh, t, t});
  B::attention_forward(out.view(), probs.view(), dq.view(), dk.view(), dv.view(), {}, {}, {}, {},
                       static_cast<int>(nh));
  auto dout = upload<B>(r, s);
  auto gq = grad_buffer(s), gk = grad_buffer(s), gv = grad_buffer(s);
  B::attention_backward(gq.view(), gk.view(), gv.view(), dout.view(), dq.view(), dk.view(),
                        dv.view(), probs.view(), static_cast<int>(nh));
  check_gradients({&q, &k, &v}, forward, r, {grad_of(gq), grad_of(gk), grad_of(gv)});

  // Unwanted gradients are skipped without touching the others.
  auto only_v = grad_buffer(s);
  B::attention_backward({}, {}, only_v.view(), dout.view(), dq.view(), dk.view(), dv.view(),
                        probs.view(), static_cast<int>(nh));
  CHECK(grad_of(only_v) == grad_of(gv));
}
