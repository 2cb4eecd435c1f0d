// SPDX-License-Identifier: MIT
// AdamW and SGD against hand-computed updates, schedules at key points, global-norm clipping.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/train/adamw.hpp"
#include "rlhf/train/grad_clip.hpp"
#include "rlhf/train/schedule.hpp"
#include "rlhf/train/sgd.hpp"
#include "support/backends.hpp"

namespace {

// Two host tensors with gradients, named like GPT-2 tensors so the decay policy applies.
template <class B, class T>
struct two_tensors {
  typename B::template buffer<T> w{rlhf::shape{2, 2}}, gw{rlhf::shape{2, 2}}, b{rlhf::shape{2}}, gb{rlhf::shape{2}};
  std::vector<rlhf::named_parameter<typename B::space, T>> params() {
    return {{"h.0.mlp.c_fc.weight", w.view(), gw.view()}, {"h.0.mlp.c_fc.bias", b.view(), gb.view()}};
  }
  static void set(typename B::template buffer<T>& buf, std::vector<T> v) {
    B::from_host(buf.view(), std::span<const T>(v));
  }
  static std::vector<T> get(const typename B::template buffer<T>& buf) {
    std::vector<T> v(static_cast<std::size_t>(buf.size()));
    B::to_host(std::span<T>(v), buf.view());
    return v;
  }
};

}  // namespace

TEMPLATE_LIST_TEST_CASE("adamw: the first step is lr·(sign(g) + λ p) and later steps follow the bias-corrected moments",
                        "[train][adamw]", rlhf::test::backends) {
  using B = TestType;
  two_tensors<B, double> t;
  t.set(t.w, {1.0, -2.0, 0.5, 0.0});
  t.set(t.b, {1.0, 1.0});
  t.set(t.gw, {0.5, 0.25, -4.0, 1e-3});
  t.set(t.gb, {2.0, -1.0});
  rlhf::train::adamw<B, double> opt(t.params(), {.weight_decay = 0.01});
  CHECK(opt.decayed(0));
  CHECK_FALSE(opt.decayed(1));  // biases are not decayed by default (HF Trainer)
  opt.step(0.1);
  CHECK(opt.steps() == 1);
  // t = 1: m̂ = g, v̂ = g², so the step is lr · (g / (|g| + ε) + λ p).
  const double eps = 1e-8;
  auto w = t.get(t.w);
  CHECK(w[0] == Approx(1.0 - 0.1 * (0.5 / (0.5 + eps)) - 0.1 * 0.01 * 1.0).epsilon(1e-14));
  CHECK(w[0] == Approx(0.899).margin(1e-8));
  CHECK(w[1] == Approx(-2.0 - 0.1 * (0.25 / (0.25 + eps)) + 0.1 * 0.01 * 2.0).epsilon(1e-14));
  CHECK(w[2] == Approx(0.5 + 0.1 * (4.0 / (4.0 + eps)) - 0.1 * 0.01 * 0.5).epsilon(1e-14));
  CHECK(w[3] == Approx(-0.1 * (1e-3 / (1e-3 + eps))).epsilon(1e-14));
  auto b = t.get(t.b);
  CHECK(b[0] == Approx(1.0 - 0.1 * (2.0 / (2.0 + eps))).epsilon(1e-14));  // no decay on the bias
  CHECK(b[1] == Approx(1.0 + 0.1 * (1.0 / (1.0 + eps))).epsilon(1e-14));

  // Two more steps with new gradients, against the equations written out in double.
  std::vector<double> p{w[0]}, m{0.1 * 0.5}, v{0.001 * 0.25};
  const std::vector<double> g2{-0.3, 0.7};
  for (int k = 0; k < 2; ++k) {
    t.set(t.gw, {g2[static_cast<std::size_t>(k)], 0.0, 0.0, 0.0});
    opt.step(0.05);
    const double g = g2[static_cast<std::size_t>(k)];
    const int step = k + 2;
    m[0] = 0.9 * m[0] + 0.1 * g;
    v[0] = 0.999 * v[0] + 0.001 * g * g;
    const double mh = m[0] / (1 - std::pow(0.9, step)), vh = v[0] / (1 - std::pow(0.999, step));
    p[0] -= 0.05 * (mh / (std::sqrt(vh) + eps) + 0.01 * p[0]);
  }
  CHECK(t.get(t.w)[0] == Approx(p[0]).epsilon(1e-13));
  std::vector<double> mv(4);
  B::to_host(std::span<double>(mv), opt.first_moment(0));
  CHECK(mv[0] == Approx(m[0]).epsilon(1e-13));
  CHECK_THROWS_AS(opt.step(-1.0), rlhf::invalid_argument);
  CHECK_THROWS_AS(rlhf::train::adamw<B>(std::vector<rlhf::named_parameter<typename B::space>>{}, {.beta1 = 1.0}),
                  rlhf::invalid_argument);
}

TEST_CASE("decay policies follow Hugging Face GPT-2 tensor names", "[train][adamw]") {
  using rlhf::train::decay_policy;
  using rlhf::train::decays;
  CHECK(decays("h.3.attn.c_attn.weight", decay_policy::no_bias_or_norm));
  CHECK_FALSE(decays("h.3.attn.c_attn.bias", decay_policy::no_bias_or_norm));
  CHECK_FALSE(decays("h.0.ln_1.weight", decay_policy::no_bias_or_norm));
  CHECK_FALSE(decays("transformer.ln_f.weight", decay_policy::no_bias_or_norm));
  CHECK(decays("wte.weight", decay_policy::no_bias_or_norm));
  CHECK_FALSE(decays("wte.weight", decay_policy::matrices_only));
  CHECK_FALSE(decays("transformer.wpe.weight", decay_policy::matrices_only));
  CHECK(decays("score.weight", decay_policy::matrices_only));
  CHECK(decays("h.0.ln_1.bias", decay_policy::all));
}

TEST_CASE("sgd with momentum and L2 decay matches torch.optim.SGD written out by hand", "[train][sgd]") {
  using B = rlhf::backend::eigen;
  two_tensors<B, double> t;
  t.set(t.w, {1.0, 2.0, 3.0, 4.0});
  t.set(t.gw, {1.0, 0.0, -1.0, 0.5});
  t.set(t.b, {1.0, -1.0});
  t.set(t.gb, {0.5, 0.5});
  rlhf::train::sgd<B, double> opt(t.params(), {.momentum = 0.9, .weight_decay = 0.1});
  opt.step(0.1);
  // step 1: d = g + 0.1 p; buf = d; p -= 0.1 d
  auto w = t.get(t.w);
  CHECK(w[0] == Approx(1.0 - 0.1 * (1.0 + 0.1)).epsilon(1e-15));
  CHECK(w[1] == Approx(2.0 - 0.1 * 0.2).epsilon(1e-15));
  auto b = t.get(t.b);
  CHECK(b[0] == Approx(1.0 - 0.05).epsilon(1e-15));  // bias: no decay
  // step 2 with the same gradients: buf = 0.9 buf + (g + 0.1 p)
  const double p1 = w[0], buf1 = 1.1;
  opt.step(0.1);
  const double buf2 = 0.9 * buf1 + (1.0 + 0.1 * p1);
  CHECK(t.get(t.w)[0] == Approx(p1 - 0.1 * buf2).epsilon(1e-15));
  CHECK(t.get(t.gw)[0] == 1.0);  // the model's gradient is left untouched

  two_tensors<B, double> n;
  n.set(n.w, {1.0, 1.0, 1.0, 1.0});
  n.set(n.gw, {1.0, 1.0, 1.0, 1.0});
  rlhf::train::sgd<B, double> nesterov(n.params(), {.momentum = 0.5, .nesterov = true});
  nesterov.step(1.0);  // d = g + 0.5 · buf = 1.5
  CHECK(n.get(n.w)[0] == Approx(1.0 - 1.5).epsilon(1e-15));
  nesterov.step(1.0);  // buf = 0.5 + 1 = 1.5; d = 1 + 0.75
  CHECK(n.get(n.w)[0] == Approx(-0.5 - 1.75).epsilon(1e-15));
  CHECK_THROWS_AS(rlhf::train::sgd<B>(std::vector<rlhf::named_parameter<rlhf::host_space>>{}, {.nesterov = true}),
                  rlhf::invalid_argument);
}

TEST_CASE("lr schedules: linear warmup, cosine to a floor, constant", "[train][schedule]") {
  using rlhf::train::lr_schedule;
  using rlhf::train::schedule_kind;
  const lr_schedule cos{schedule_kind::cosine, 1e-3, 10, 110, 1e-4};
  CHECK(cos(0) == Approx(1e-4));        // (0 + 1) / 10 of the peak
  CHECK(cos(4) == Approx(5e-4));
  CHECK(cos(9) == Approx(1e-3));        // end of warmup: the peak
  CHECK(cos(10) == Approx(1e-3));       // cosine starts at the peak
  CHECK(cos(60) == Approx(5.5e-4));     // half way: floor + (peak - floor) / 2
  CHECK(cos(35) == Approx(1e-4 + 9e-4 * 0.5 * (1 + std::cos(M_PI / 4))));
  CHECK(cos(110) == Approx(1e-4));      // the floor at total_steps
  CHECK(cos(5000) == Approx(1e-4));     // and after it
  for (rlhf::index_t s = 10; s < 110; ++s) CHECK(cos(s + 1) <= cos(s));
  const lr_schedule constant{schedule_kind::constant, 3e-4, 4, 0, 0};
  CHECK(constant(0) == Approx(0.75e-4));
  CHECK(constant(3) == Approx(3e-4));
  CHECK(constant(100000) == Approx(3e-4));
  const lr_schedule no_warmup{schedule_kind::cosine, 2.0, 0, 4, 0};
  CHECK(no_warmup(0) == Approx(2.0));
  CHECK(no_warmup(2) == Approx(1.0));
  CHECK(no_warmup(4) == Approx(0.0).margin(1e-15));
  CHECK_THROWS_AS((lr_schedule{schedule_kind::cosine, 1e-3, 0, 10, 2e-3}.validate()), rlhf::invalid_argument);
  CHECK_THROWS_AS((lr_schedule{schedule_kind::cosine, 1e-3, -1, 10, 0}.validate()), rlhf::invalid_argument);
}

TEMPLATE_LIST_TEST_CASE("clip_grad_norm scales by max_norm / norm over all tensors and skips non-finite norms",
                        "[train][clip]", rlhf::test::backends) {
  using B = TestType;
  two_tensors<B, float> t;
  t.set(t.gw, {3.0f, 0.0f, 0.0f, 0.0f});
  t.set(t.gb, {0.0f, 4.0f});
  auto params = t.params();
  auto r = rlhf::train::clip_grad_norm<B>(params, 0.0);  // off: measured, not scaled
  CHECK(r.norm == Approx(5.0));
  CHECK_FALSE(r.clipped);
  r = rlhf::train::clip_grad_norm<B>(params, 10.0);  // below the threshold
  CHECK_FALSE(r.clipped);
  CHECK(t.get(t.gw)[0] == 3.0f);
  r = rlhf::train::clip_grad_norm<B>(params, 1.0);
  CHECK(r.clipped);
  CHECK(r.norm == Approx(5.0));
  CHECK(t.get(t.gw)[0] == Approx(3.0 / 5.0).epsilon(1e-6));
  CHECK(t.get(t.gb)[1] == Approx(4.0 / 5.0).epsilon(1e-6));
  CHECK(rlhf::train::clip_grad_norm<B>(params, 0.0).norm == Approx(1.0).epsilon(1e-6));

  t.set(t.gb, {std::numeric_limits<float>::quiet_NaN(), 1.0f});
  r = rlhf::train::clip_grad_norm<B>(params, 1.0);
  CHECK_FALSE(r.finite);
  CHECK_FALSE(r.clipped);
  CHECK(t.get(t.gb)[1] == 1.0f);  // untouched
  t.set(t.gb, {std::numeric_limits<float>::infinity(), 1.0f});
  CHECK_FALSE(rlhf::train::clip_grad_norm<B>(params, 1.0).finite);
  CHECK_THROWS_AS(rlhf::train::clip_grad_norm<B>(params, -1.0), rlhf::invalid_argument);
}
