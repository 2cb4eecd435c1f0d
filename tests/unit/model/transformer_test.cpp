// SPDX-License-Identifier: MIT
// rlhf::transformer: parameter table and GPT-2 initialisation, forward against a naive double
// reference, finite-difference gradients of every parameter tensor for every head, padding
// invariance, thread-count determinism, and bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rlhf/backend.hpp"
#include "rlhf/model/transformer.hpp"
#include "support/backends.hpp"
#include "support/gradcheck.hpp"

namespace {

rlhf::gpt2_config tiny_config() {
  return rlhf::gpt2_config{.vocab_size = 11, .n_positions = 8, .n_embd = 8, .n_layer = 2, .n_head = 2};
}

/// Right-padded batch from rows of ids; padding holds `pad`, response = positions >= prompt_len.
rlhf::token_batch make_batch(const std::vector<std::vector<int>>& rows, int pad, int prompt_len = 1) {
  std::size_t T = 0;
  for (const auto& r : rows) T = std::max(T, r.size());
  rlhf::token_batch b;
  b.tokens = xt::xtensor<rlhf::token_id, 2>::from_shape({rows.size(), T});
  b.tokens.fill(pad);
  b.lengths = xt::xtensor<std::int32_t, 1>::from_shape({rows.size()});
  b.response_mask = xt::zeros<std::uint8_t>({rows.size(), T});
  for (std::size_t i = 0; i < rows.size(); ++i) {
    b.lengths(i) = static_cast<std::int32_t>(rows[i].size());
    for (std::size_t t = 0; t < rows[i].size(); ++t) {
      b.tokens(i, t) = rows[i][t];
      b.response_mask(i, t) = static_cast<int>(t) >= prompt_len ? 1 : 0;
    }
  }
  return b;
}

/// The brief's gradient-check batch: 3 rows of lengths 5, 3, 1.
rlhf::token_batch tiny_batch(int pad = 0) {
  return make_batch({{1, 4, 7, 2, 9}, {3, 10, 5}, {6}}, pad);
}

template <class Backend, class T>
std::vector<T> to_host(rlhf::view<const T, typename Backend::space> v) {
  std::vector<T> h(static_cast<std::size_t>(v.size()));
  Backend::to_host(std::span<T>(h), v);
  return h;
}

template <class Out>
Out random_like(const Out& out, std::uint64_t seed) {
  Out w = Out::from_shape(out.shape());
  const auto r = rlhf::test::random_vector(w.size(), seed);
  std::copy(r.begin(), r.end(), w.data());
  return w;
}

// ---- naive GPT-2 reference (double, host, straight from the paper's equations) ----

struct reference_gpt2 {
  rlhf::gpt2_config c;
  std::vector<std::pair<std::string, std::vector<double>>> p;
  const std::vector<double>& t(const std::string& name) const {
    for (const auto& e : p)
      if (e.first == name) return e.second;
    FAIL("no tensor " << name);
    return p[0].second;
  }
  static void layernorm(std::vector<double>& y, const std::vector<double>& x, const std::vector<double>& w,
                        const std::vector<double>& b, std::size_t N, std::size_t C, double eps) {
    y.assign(N * C, 0);
    for (std::size_t n = 0; n < N; ++n) {
      double m = 0, v = 0;
      for (std::size_t i = 0; i < C; ++i) m += x[n * C + i];
      m /= C;
      for (std::size_t i = 0; i < C; ++i) v += (x[n * C + i] - m) * (x[n * C + i] - m);
      v /= C;
      for (std::size_t i = 0; i < C; ++i) y[n * C + i] = (x[n * C + i] - m) / std::sqrt(v + eps) * w[i] + b[i];
    }
  }
  static void linear(std::vector<double>& y, const std::vector<double>& x, const std::vector<double>& W,
                     const std::vector<double>& b, std::size_t N, std::size_t K, std::size_t M) {
    y.assign(N * M, 0);
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t j = 0; j < M; ++j) {
        double s = b[j];
        for (std::size_t k = 0; k < K; ++k) s += x[n * K + k] * W[k * M + j];
        y[n * M + j] = s;
      }
  }
  /// Next-token log-probabilities (len, V) of one unpadded sequence.
  std::vector<double> log_probs(const std::vector<int>& ids) const {
    const std::size_t T = ids.size(), C = static_cast<std::size_t>(c.n_embd), V = static_cast<std::size_t>(c.vocab_size);
    const std::size_t H = static_cast<std::size_t>(c.n_head), hs = C / H;
    const double eps = c.layer_norm_epsilon;
    std::vector<double> x(T * C), h, qkv, a(T * C), y, f;
    for (std::size_t i = 0; i < T; ++i)
      for (std::size_t j = 0; j < C; ++j) x[i * C + j] = t("wte.weight")[ids[i] * C + j] + t("wpe.weight")[i * C + j];
    for (int l = 0; l < c.n_layer; ++l) {
      const std::string pre = "h." + std::to_string(l) + ".";
      layernorm(h, x, t(pre + "ln_1.weight"), t(pre + "ln_1.bias"), T, C, eps);
      linear(qkv, h, t(pre + "attn.c_attn.weight"), t(pre + "attn.c_attn.bias"), T, C, 3 * C);
      for (std::size_t hd = 0; hd < H; ++hd)
        for (std::size_t i = 0; i < T; ++i) {
          std::vector<double> s(i + 1);
          double mx = -1e300, z = 0;
          for (std::size_t j = 0; j <= i; ++j) {
            double d = 0;
            for (std::size_t e = 0; e < hs; ++e) d += qkv[i * 3 * C + hd * hs + e] * qkv[j * 3 * C + C + hd * hs + e];
            s[j] = d / std::sqrt(static_cast<double>(hs));
            mx = std::max(mx, s[j]);
          }
          for (auto& v : s) z += (v = std::exp(v - mx));
          for (std::size_t e = 0; e < hs; ++e) {
            double o = 0;
            for (std::size_t j = 0; j <= i; ++j) o += s[j] / z * qkv[j * 3 * C + 2 * C + hd * hs + e];
            a[i * C + hd * hs + e] = o;
          }
        }
      linear(y, a, t(pre + "attn.c_proj.weight"), t(pre + "attn.c_proj.bias"), T, C, C);
      for (std::size_t i = 0; i < T * C; ++i) x[i] += y[i];
      layernorm(h, x, t(pre + "ln_2.weight"), t(pre + "ln_2.bias"), T, C, eps);
      linear(f, h, t(pre + "mlp.c_fc.weight"), t(pre + "mlp.c_fc.bias"), T, C, 4 * C);
      for (auto& v : f) v = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
      linear(y, f, t(pre + "mlp.c_proj.weight"), t(pre + "mlp.c_proj.bias"), T, 4 * C, C);
      for (std::size_t i = 0; i < T * C; ++i) x[i] += y[i];
    }
    layernorm(h, x, t("ln_f.weight"), t("ln_f.bias"), T, C, eps);
    std::vector<double> lp(T * V);
    for (std::size_t i = 0; i < T; ++i) {
      double mx = -1e300;
      for (std::size_t v = 0; v < V; ++v) {
        double d = 0;
        for (std::size_t e = 0; e < C; ++e) d += h[i * C + e] * t("wte.weight")[v * C + e];
        lp[i * V + v] = d;
        mx = std::max(mx, d);
      }
      double z = 0;
      for (std::size_t v = 0; v < V; ++v) z += std::exp(lp[i * V + v] - mx);
      for (std::size_t v = 0; v < V; ++v) lp[i * V + v] -= mx + std::log(z);
    }
    return lp;
  }
};

}  // namespace

TEST_CASE("transformer parameter table has GPT-2's Hugging Face names, shapes and initialisation",
          "[model][transformer]") {
  rlhf::gpt2_config c;  // the 834k-parameter teaching model
  rlhf::transformer<rlhf::backend::eigen, rlhf::lm_head> m(c, 7);
  CHECK(m.parameter_count() == 834304);
  CHECK(m.parameters().size() == m.parameter_count());
  CHECK(m.gradients().size() == m.parameter_count());
  const auto named = m.named_parameters();
  REQUIRE(named.size() == 2 + 12 * 4 + 2);
  CHECK(named[0].name == "wte.weight");
  CHECK(named[0].value.extents() == rlhf::shape{256, 128});
  CHECK(named[1].name == "wpe.weight");
  CHECK(named[1].value.extents() == rlhf::shape{64, 128});
  CHECK(named[4].name == "h.0.attn.c_attn.weight");
  CHECK(named[4].value.extents() == rlhf::shape{128, 384});
  CHECK(named[6].name == "h.0.attn.c_proj.weight");
  CHECK(named[10].name == "h.0.mlp.c_fc.weight");
  CHECK(named[10].value.extents() == rlhf::shape{128, 512});
  CHECK(named[12].name == "h.0.mlp.c_proj.weight");
  CHECK(named[12].value.extents() == rlhf::shape{512, 128});
  CHECK(named[2 + 12 * 3 + 11].name == "h.3.mlp.c_proj.bias");
  CHECK(named.back().name == "ln_f.bias");
  rlhf::index_t total = 0;
  for (const auto& p : named) {
    CHECK(p.value.data() == m.parameters().data() + total);  // one arena, table order
    CHECK(p.grad.data() == m.gradients().data() + total);
    total += p.value.size();
    auto stats = [&](double& mean, double& sd) {
      double s = 0, s2 = 0;
      for (float v : p.value) s += v, s2 += double(v) * v;
      mean = s / p.value.size();
      sd = std::sqrt(s2 / p.value.size() - mean * mean);
    };
    double mean = 0, sd = 0;
    stats(mean, sd);
    const bool ln = p.name.find("ln_") != std::string::npos;
    if (ln && p.name.ends_with("weight")) CHECK((mean == 1.0 && sd == 0.0));
    else if (p.name.ends_with("bias")) CHECK((mean == 0.0 && sd == 0.0));
    else if (p.name.find("c_proj.weight") != std::string::npos) CHECK(sd == Approx(0.02 / std::sqrt(8.0)).epsilon(0.05));
    else CHECK(sd == Approx(0.02).epsilon(0.05));
  }
  CHECK(total == m.parameter_count());

  rlhf::transformer<rlhf::backend::eigen, rlhf::scalar_head> rm(c, 7);
  const auto rn = rm.named_parameters();
  CHECK(rn.back().name == "score.weight");
  CHECK(rn.back().value.extents() == rlhf::shape{1, 128});
  CHECK(rm.parameter_count() == m.parameter_count() + 128);
  // The trunk's initialisation does not depend on the head, so an RM starts from the LM's trunk.
  CHECK(std::equal(m.parameters().begin(), m.parameters().end(), rm.parameters().begin()));
}

TEMPLATE_LIST_TEST_CASE("transformer forward equals a naive GPT-2 reference in double precision",
                        "[model][transformer]", rlhf::test::backends) {
  using Backend = TestType;
  rlhf::transformer<Backend, rlhf::lm_head, double> m(tiny_config(), 3);
  reference_gpt2 ref{tiny_config(), {}};
  for (auto& p : m.named_parameters())
    ref.p.emplace_back(p.name, to_host<Backend, double>(p.value));
  const auto batch = tiny_batch(4);
  const auto out = m.forward(batch);
  const auto full = m.next_token_log_probs(batch);
  const std::size_t V = 11;
  for (std::size_t b = 0; b < 3; ++b) {
    const auto len = static_cast<std::size_t>(batch.lengths(b));
    std::vector<int> ids(len);
    for (std::size_t t = 0; t < len; ++t) ids[t] = batch.tokens(b, t);
    const auto lp = ref.log_probs(ids);
    for (std::size_t t = 0; t < 5; ++t) {
      if (t == 0 || t >= len) CHECK(out(b, t) == 0.0);
      else CHECK(out(b, t) == Approx(lp[(t - 1) * V + ids[t]]).margin(1e-12));
      for (std::size_t v = 0; v < V; ++v)
        CHECK(full(b, t, v) == (t < len ? Approx(lp[t * V + v]).margin(1e-12) : Approx(0.0)));
    }
  }
}

namespace {

/// Finite differences (double) of L = Σ w ⊙ forward(batch) against backward(w), for a random
/// subset of entries of EVERY parameter tensor plus the entry with the largest gradient.
template <class Backend, class Head>
void check_gradients(std::uint64_t seed) {
  using model_t = rlhf::transformer<Backend, Head, double>;
  model_t m(tiny_config(), seed);
  // Larger weights than GPT-2's 0.02 so that every path (attention, GELU curvature) matters.
  std::vector<double> params = rlhf::test::random_vector(static_cast<std::size_t>(m.parameter_count()), seed, 0.3);
  Backend::from_host(m.parameters(), std::span<const double>(params));
  const auto batch = tiny_batch();
  const auto w = random_like(m.forward(batch), seed + 1);
  m.zero_grad();
  m.forward(batch);
  m.backward(w);
  const auto grads = to_host<Backend, double>(m.gradients());
  auto loss = [&] {
    Backend::from_host(m.parameters(), std::span<const double>(params));
    const auto o = m.forward(batch);
    double s = 0;
    for (std::size_t i = 0; i < o.size(); ++i) s += o.data()[i] * w.data()[i];
    return s;
  };
  std::size_t offset = 0, tensor = 0;
  for (const auto& p : m.named_parameters()) {
    const auto n = static_cast<std::size_t>(p.value.size());
    std::vector<std::size_t> pick;
    rlhf::counter_rng rng(seed, 1000 + tensor++);
    for (std::uint64_t i = 0; i < 4; ++i) pick.push_back(static_cast<std::size_t>(rng.uniform(i) * n));
    std::size_t best = 0;
    double norm = 0;
    for (std::size_t i = 0; i < n; ++i) {
      norm += grads[offset + i] * grads[offset + i];
      if (std::abs(grads[offset + i]) > std::abs(grads[offset + best])) best = i;
    }
    pick.push_back(best);
    INFO(Head::output_rank << "-rank head, tensor " << p.name);
    CHECK(norm > 0);  // every tensor is reached by the loss
    std::vector<double> analytic, numeric;
    for (std::size_t i : pick) {
      std::span<double> x(params.data() + offset + i, 1);
      analytic.push_back(grads[offset + i]);
      numeric.push_back(rlhf::test::numerical_gradient(loss, x, 1e-5)[0]);
    }
    CHECK(rlhf::test::relative_error(analytic, numeric) < 1e-6);
    offset += n;
  }
  CHECK(offset == params.size());
  // Parameter gradients accumulate: a second backward doubles them.
  Backend::from_host(m.parameters(), std::span<const double>(params));
  m.zero_grad();
  m.forward(batch);
  m.backward(w);
  m.backward(w);
  const auto twice = to_host<Backend, double>(m.gradients());
  for (std::size_t i = 0; i < grads.size(); i += 7) CHECK(twice[i] == Approx(2 * grads[i]).margin(1e-12));
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("transformer backward matches finite differences for every tensor and head",
                        "[model][transformer][gradcheck]", rlhf::test::backends) {
  using Backend = TestType;
  SECTION("lm_head") { check_gradients<Backend, rlhf::lm_head>(11); }
  SECTION("scalar_head") { check_gradients<Backend, rlhf::scalar_head>(12); }
  SECTION("token_reward_head") { check_gradients<Backend, rlhf::token_reward_head>(13); }
}

TEMPLATE_LIST_TEST_CASE("padding never influences valid positions, outputs or gradients",
                        "[model][transformer]", rlhf::test::backends) {
  using Backend = TestType;
  rlhf::transformer<Backend, rlhf::lm_head> m(tiny_config(), 5);
  auto run = [&](const rlhf::token_batch& b, xt::xtensor<float, 2>& out) {
    out = m.forward(b);
    m.zero_grad();
    xt::xtensor<float, 2> d = xt::ones<float>(out.shape());
    m.backward(d);
    return to_host<Backend, float>(m.gradients());
  };
  xt::xtensor<float, 2> a, b;
  const auto ga = run(tiny_batch(0), a);
  const auto gb = run(tiny_batch(10), b);
  CHECK((a == b));
  CHECK(ga == gb);
  // Padded positions are 0, valid positions are log-probabilities (< 0).
  CHECK(a(1, 3) == 0.0f);
  CHECK(a(2, 1) == 0.0f);
  CHECK(a(0, 0) == 0.0f);
  CHECK(a(0, 4) < 0.0f);
  // Each row equals the same row scored alone without padding.
  const std::vector<std::vector<int>> rows{{1, 4, 7, 2, 9}, {3, 10, 5}, {6}};
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto alone = m.forward(make_batch({rows[r]}, 0));
    for (std::size_t t = 0; t < rows[r].size(); ++t) CHECK(alone(0, t) == Approx(a(r, t)).margin(1e-5));
  }
}

TEMPLATE_LIST_TEST_CASE("transformer results are bitwise identical for 1 and 2 threads",
                        "[model][transformer]", rlhf::test::backends) {
#ifdef _OPENMP
  using Backend = TestType;
  rlhf::gpt2_config c;
  c.vocab_size = 300;
  c.n_positions = 48;
  c.n_embd = 64;
  c.n_layer = 2;
  c.n_head = 4;
  rlhf::transformer<Backend, rlhf::lm_head> m(c, 9);
  std::vector<std::vector<int>> rows;
  for (int r = 0; r < 8; ++r) {
    std::vector<int> ids;
    for (int t = 0; t < 40 - 3 * r; ++t) ids.push_back((r * 37 + t * 11) % 300);
    rows.push_back(ids);
  }
  const auto batch = make_batch(rows, 0);
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    auto out = m.forward(batch);
    m.zero_grad();
    m.backward(random_like(out, 3));
    auto g = to_host<Backend, float>(m.gradients());
    omp_set_num_threads(saved);
    return std::make_pair(out, g);
  };
  const auto one = run(1), two = run(2);
  CHECK((one.first == two.first));
  CHECK(one.second == two.second);
#else
  SUCCEED("built without OpenMP: one thread only");
#endif
}

TEST_CASE("transformer rejects bad input with rlhf::invalid_argument naming it", "[model][transformer]") {
  rlhf::transformer<rlhf::backend::eigen, rlhf::lm_head> m(tiny_config(), 1);
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(m.backward(xt::zeros<float>({3, 5})), Contains("call forward"));
  auto b = tiny_batch();
  b.tokens(0, 2) = 11;
  CHECK_THROWS_AS(m.forward(b), rlhf::invalid_argument);
  CHECK_THROWS_WITH(m.forward(b), Contains("token id 11") && Contains("vocab"));
  b = tiny_batch();
  b.tokens(1, 4) = -7;  // padding may hold anything
  CHECK_NOTHROW(m.forward(b));
  b.lengths(1) = 6;
  CHECK_THROWS_WITH(m.forward(b), Contains("row 1 has length 6"));
  CHECK_THROWS_WITH(m.forward(make_batch({{1, 2, 3, 4, 5, 6, 7, 8, 9}}, 0)), Contains("n_positions"));
  m.forward(tiny_batch());
  CHECK_THROWS_WITH(m.backward(xt::zeros<float>({3, 4})), Contains("d_output has shape (3, 4)"));
  rlhf::gpt2_config bad = tiny_config();
  bad.n_head = 3;
  CHECK_THROWS_AS((rlhf::transformer<rlhf::backend::eigen, rlhf::lm_head>(bad, 1)), rlhf::invalid_argument);
}

#if defined(RLHF_TEST_THRUST) && RLHF_TEST_THRUST
TEST_CASE("eigen and thrust_host transformers agree within float tolerance", "[model][transformer][backends]") {
  using E = rlhf::backend::eigen;
  using H = rlhf::backend::thrust_host;
  rlhf::gpt2_config c = tiny_config();
  c.vocab_size = 50;
  c.n_embd = 16;
  rlhf::transformer<E, rlhf::lm_head> a(c, 17);
  rlhf::transformer<H, rlhf::lm_head> b(c, 17);
  const auto batch = make_batch({{1, 4, 7, 2, 9, 33, 12}, {3, 10, 5}, {49, 0}}, 0);
  const auto oa = a.forward(batch);
  const auto ob = b.forward(batch);
  REQUIRE(oa.shape() == ob.shape());
  for (std::size_t i = 0; i < oa.size(); ++i) CHECK(oa.data()[i] == Approx(ob.data()[i]).margin(1e-5));
  const auto d = random_like(oa, 5);
  a.zero_grad();
  b.zero_grad();
  a.backward(d);
  b.backward(d);
  const auto ga = to_host<E, float>(a.gradients());
  const auto gb = to_host<H, float>(b.gradients());
  auto max_abs_diff = [](const std::vector<float>& x, const std::vector<float>& y) {
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, double(std::abs(x[i] - y[i])));
    return worst;
  };
  CHECK(max_abs_diff(ga, gb) < 1e-5);
  auto sa = a.start_session(2, 8);
  auto sb = b.start_session(2, 8);
  const std::vector<std::vector<rlhf::token_id>> prompts{{1, 2, 3}, {4}};
  const auto la = sa.prefill(prompts);
  const auto lb = sb.prefill(prompts);
  for (rlhf::index_t i = 0; i < la.size(); ++i) CHECK(la[i] == Approx(lb[i]).margin(1e-5));
  // A training step: AdamW on each backend from the gradients above, then a forward.
  typename E::template buffer<float> ma(rlhf::shape{a.parameter_count()}), va(rlhf::shape{a.parameter_count()});
  typename H::template buffer<float> mb(rlhf::shape{b.parameter_count()}), vb(rlhf::shape{b.parameter_count()});
  // (AdamW's first step is about lr·sign(g): where g is ~0 the float noise of the gradients
  // shows up scaled by lr/|g|, hence the small lr and the looser bound.)
  E::adamw_update(a.parameters(), a.gradients(), ma.view(), va.view(), 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
  H::adamw_update(b.parameters(), b.gradients(), mb.view(), vb.view(), 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
  const auto pa = to_host<E, float>(a.parameters());
  const auto pb = to_host<H, float>(b.parameters());
  CHECK(max_abs_diff(pa, pb) < 1e-4);
  const auto oa2 = a.forward(batch);
  const auto ob2 = b.forward(batch);
  for (std::size_t i = 0; i < oa2.size(); ++i) CHECK(oa2.data()[i] == Approx(ob2.data()[i]).margin(1e-4));
}
#endif
