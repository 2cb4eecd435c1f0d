// SPDX-License-Identifier: MIT
// Logit processors and selectors: tiny closed-form cases, exact truncation sets against the
// full-sort definitions on random and adversarial logits, tie/-inf rules, and bad input.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "reference.hpp"
#include "rlhf/sampling.hpp"

using namespace rlhf;
using namespace rlhf::sampling;
using rlhf::test::logit_kind;
using rlhf::test::neg_inf;

namespace {
std::vector<float> log_of(std::initializer_list<double> p) {
  std::vector<float> l;
  for (double x : p) l.push_back(static_cast<float>(std::log(x)));
  return l;
}
std::vector<token_id> ids_of(const candidates& c) { return {c.ids().begin(), c.ids().end()}; }
std::vector<float> logits_of(const candidates& c) { return {c.logits().begin(), c.logits().end()}; }
/// Logit of each kept id must be the input logit of that id (truncation never edits values).
void require_values_unchanged(const candidates& c, const std::vector<float>& l, const std::vector<token_id>& ids) {
  std::vector<float> by_id;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (static_cast<std::size_t>(ids[i]) >= by_id.size()) by_id.resize(static_cast<std::size_t>(ids[i]) + 1);
    by_id[static_cast<std::size_t>(ids[i])] = l[i];
  }
  bool same = true;
  for (index_t i = 0; i < c.size(); ++i) same = same && c.logit(i) == by_id[static_cast<std::size_t>(c.id(i))];
  REQUIRE(same);
}
bool canonical_sorted(const candidates& c) {
  for (index_t i = 1; i < c.size(); ++i)
    if (!(c.logit(i - 1) > c.logit(i) || (c.logit(i - 1) == c.logit(i) && c.id(i - 1) < c.id(i)))) return false;
  return true;
}
}  // namespace

TEST_CASE("candidates hold ids 0..V-1 and reject NaN and +inf logits", "[sampling][candidates]") {
  const std::vector<float> l{1.0f, neg_inf, 0.5f};
  candidates c(l);
  REQUIRE(c.size() == 3);
  REQUIRE(ids_of(c) == std::vector<token_id>{0, 1, 2});
  REQUIRE_FALSE(c.sorted());
  const auto p = c.probabilities();
  REQUIRE(p[1] == 0.0);
  REQUIRE(p[0] + p[2] == Approx(1.0).epsilon(1e-15));
  REQUIRE(p[0] / p[2] == Approx(std::exp(0.5)));
  REQUIRE(c.argmax() == 0);

  // A NaN or +inf logit is a model output gone wrong (numerical_error), not a bad option.
  std::vector<float> bad{0.0f, std::nanf(""), 1.0f};
  REQUIRE_THROWS_AS(candidates(bad), numerical_error);
  bad[1] = std::numeric_limits<float>::infinity();
  REQUIRE_THROWS_AS(candidates(bad), numerical_error);
  REQUIRE_THROWS_WITH(candidates(bad), Catch::Contains("token 1") && Catch::Contains("finite"));
  REQUIRE_THROWS_AS(candidates(std::vector<float>{}), invalid_argument);
  const std::vector<token_id> dup{3, 4, 3};
  REQUIRE_THROWS_WITH(candidates(dup, l), Catch::Contains("appears twice"));
  const std::vector<token_id> neg{3, -1, 2};
  REQUIRE_THROWS_AS(candidates(neg, l), invalid_argument);
  const std::vector<token_id> two{3, 4};
  REQUIRE_THROWS_AS(candidates(two, l), invalid_argument);
}

TEST_CASE("closed-form cases on {0.1, 0.2, 0.3, 0.4}", "[sampling][closed_form]") {
  const auto l = log_of({0.1, 0.2, 0.3, 0.4});
  SECTION("top_k = 3 renormalises to {4/9, 3/9, 2/9}") {
    candidates c(l);
    top_k{3}.apply(c);
    REQUIRE(ids_of(c) == std::vector<token_id>{3, 2, 1});
    REQUIRE(c.sorted());
    const auto p = c.probabilities();
    REQUIRE(p[0] == Approx(4.0 / 9).epsilon(1e-6));
    REQUIRE(p[1] == Approx(3.0 / 9).epsilon(1e-6));
    REQUIRE(p[2] == Approx(2.0 / 9).epsilon(1e-6));
  }
  SECTION("top_p keeps the smallest prefix reaching p") {
    candidates a(l);
    top_p{0.6}.apply(a);
    REQUIRE(ids_of(a) == std::vector<token_id>{3, 2});
    candidates b(l);
    top_p{0.35}.apply(b);
    REQUIRE(ids_of(b) == std::vector<token_id>{3});
    candidates c(l);
    top_p{0.95}.apply(c);
    REQUIRE(ids_of(c) == std::vector<token_id>{3, 2, 1, 0});
    candidates d(l);
    top_p{1e-9}.apply(d);  // always at least one token
    REQUIRE(ids_of(d) == std::vector<token_id>{3});
  }
  SECTION("min_p keeps p >= p_min * p_max in entry order") {
    candidates c(l);
    min_p{0.6}.apply(c);
    REQUIRE(ids_of(c) == std::vector<token_id>{2, 3});
    candidates d(l);
    min_p{1.0}.apply(d);
    REQUIRE(ids_of(d) == std::vector<token_id>{3});
  }
  SECTION("temperature divides logits; 0 keeps the argmax only") {
    candidates c(l);
    temperature{2.0}.apply(c);
    for (index_t i = 0; i < 4; ++i) REQUIRE(c.logit(i) == l[static_cast<std::size_t>(i)] / 2.0f);
    candidates g(l);
    temperature{0.0}.apply(g);
    REQUIRE(ids_of(g) == std::vector<token_id>{3});
  }
  SECTION("typical keeps the tokens closest to the entropy until mass tau") {
    // H = 1.2799 nats; |-log p - H| = {1.023, 0.330, 0.076, 0.364}: order 2, 1, 3, 0.
    candidates c(l);
    typical{0.45}.apply(c);
    REQUIRE(ids_of(c) == std::vector<token_id>{1, 2});  // 0.3 + 0.2 >= 0.45, entry order kept
    candidates d(l);
    typical{0.25}.apply(d);
    REQUIRE(ids_of(d) == std::vector<token_id>{2});
    candidates e(l);
    typical{0.75}.apply(e);
    REQUIRE(ids_of(e) == std::vector<token_id>{1, 2, 3});
  }
}

TEST_CASE("no-op settings leave the candidates untouched", "[sampling][noop]") {
  const auto l = rlhf::test::make_logits(logit_kind::ties, 50, 3);
  auto check = [&](auto stage) {
    candidates c(l);
    stage.apply(c);
    REQUIRE(ids_of(c) == rlhf::test::iota_ids(50));
    REQUIRE(logits_of(c) == l);
  };
  check(top_k{0});
  check(top_k{50});
  check(top_k{1000});
  check(top_p{1.0});
  check(min_p{0.0});
  check(typical{1.0});
  check(temperature{1.0});
  check(repetition_penalty{1.0});
  check(frequency_penalty{0.0, 0.0});
  check(logit_bias{});
}

TEST_CASE("top_k and top_p equal the full-sort definition on random and adversarial logits",
          "[sampling][exact]") {
  for (const auto kind : rlhf::test::all_kinds) {
    for (const std::size_t n : {1u, 2u, 7u, 64u, 1000u, 5003u}) {
      for (std::uint64_t seed = 0; seed < 3; ++seed) {
        const auto l = rlhf::test::make_logits(kind, n, seed * 977 + n);
        const auto ids = rlhf::test::iota_ids(n);
        INFO("kind " << static_cast<int>(kind) << " n " << n << " seed " << seed);
        for (const std::size_t k : {1u, 2u, 3u, 31u, 32u, 33u, 40u, 500u, 4999u, 6000u}) {
          candidates c(l);
          top_k{static_cast<index_t>(k)}.apply(c);
          INFO("k " << k);
          REQUIRE(ids_of(c) == rlhf::test::ref_top_k(l, ids, k));
          require_values_unchanged(c, l, ids);
          if (k < n) REQUIRE(c.sorted());
        }
        for (const double p : {1e-6, 0.1, 0.5, 0.9, 0.95, 0.999, 0.9999999, 1.0}) {
          INFO("p " << p);
          candidates c(l);
          top_p{p}.apply(c);
          const auto want = rlhf::test::ref_top_p(l, ids, p);
          if (p < 1.0) {
            REQUIRE(ids_of(c) == want);
          } else {
            REQUIRE(ids_of(c) == ids);  // p = 1 is a no-op (entry order kept)
          }
          require_values_unchanged(c, l, ids);
          for (const std::size_t mk : {3u, 40u}) {
            candidates d(l);
            top_p{p, static_cast<index_t>(mk)}.apply(d);
            if (p < 1.0 && n > mk) REQUIRE(ids_of(d) == rlhf::test::ref_top_p(l, ids, p, mk));
            REQUIRE(d.size() >= static_cast<index_t>(std::min(mk, n)));
          }
          // Same result when the input is already sorted (the O(k) path).
          candidates s(l);
          s.sort();
          REQUIRE(canonical_sorted(s));
          top_p{p}.apply(s);
          if (p < 1.0) REQUIRE(ids_of(s) == want);
        }
        for (const double pm : {0.0, 0.01, 0.3, 0.9, 1.0}) {
          candidates c(l);
          min_p{pm}.apply(c);
          const auto want = rlhf::test::ref_min_p(l, ids, pm);
          REQUIRE(ids_of(c) == want);
        }
      }
    }
  }
}

TEST_CASE("truncation works on id subsets in any order and ties go to the lower id", "[sampling][exact]") {
  // Ids shuffled and sparse, many ties.
  const std::vector<token_id> ids{907, 3, 55, 12, 400, 8, 1, 77, 2000, 31};
  const std::vector<float> l{1.f, 2.f, 1.f, 2.f, neg_inf, 0.f, 2.f, 1.f, neg_inf, 0.f};
  for (std::size_t k = 1; k <= ids.size(); ++k) {
    candidates c(ids, l);
    top_k{static_cast<index_t>(k)}.apply(c);
    REQUIRE(ids_of(c) == rlhf::test::ref_top_k(l, ids, k));
  }
  candidates c(ids, l);
  top_k{4}.apply(c);
  REQUIRE(ids_of(c) == std::vector<token_id>{1, 3, 12, 55});  // three 2's by id, then the lowest-id 1
  for (const double p : {0.2, 0.5, 0.8, 0.99}) {
    candidates d(ids, l);
    top_p{p}.apply(d);
    REQUIRE(ids_of(d) == rlhf::test::ref_top_p(l, ids, p));
  }
  REQUIRE(greedy{}.select(candidates(ids, l)) == 1);
  // All equal: greedy takes the lowest id, top-k the k lowest ids.
  const std::vector<float> eq(ids.size(), -3.5f);
  REQUIRE(greedy{}.select(candidates(ids, eq)) == 1);
  candidates e(ids, eq);
  top_k{3}.apply(e);
  REQUIRE(ids_of(e) == std::vector<token_id>{1, 3, 8});
}

TEST_CASE("temperature keeps the sorted flag truthful when rounding creates ties", "[sampling][temperature]") {
  // 1 and nextafter(1) become equal after division by a huge T; the lower id must then lead.
  const std::vector<token_id> ids{5, 2};
  const std::vector<float> l{std::nextafter(1.0f, 2.0f), 1.0f};
  candidates c(ids, l);
  c.sort();
  REQUIRE(ids_of(c) == std::vector<token_id>{5, 2});
  temperature{3e38}.apply(c);
  REQUIRE(c.logit(0) == c.logit(1));
  REQUIRE_FALSE(c.sorted());
  top_k{1}.apply(c);
  REQUIRE(ids_of(c) == std::vector<token_id>{2});
}

TEST_CASE("typical matches a brute-force definition", "[sampling][typical]") {
  for (const auto kind : {logit_kind::gaussian, logit_kind::ties, logit_kind::with_neg_inf}) {
    const auto l = rlhf::test::make_logits(kind, 300, 11);
    for (const double tau : {0.2, 0.5, 0.9}) {
      candidates c(l);
      typical{tau}.apply(c);
      // reference
      double m = -INFINITY;
      for (float x : l) m = std::max(m, double(x));
      double z = 0;
      for (float x : l) z += std::exp(double(x) - m);
      std::vector<double> p(l.size()), s(l.size());
      double h = 0;
      for (std::size_t i = 0; i < l.size(); ++i) {
        p[i] = std::exp(double(l[i]) - m) / z;
        if (p[i] > 0) h -= p[i] * std::log(p[i]);
      }
      for (std::size_t i = 0; i < l.size(); ++i) s[i] = p[i] > 0 ? std::abs(-std::log(p[i]) - h) : INFINITY;
      std::vector<std::size_t> o(l.size());
      std::iota(o.begin(), o.end(), 0u);
      std::stable_sort(o.begin(), o.end(), [&](auto a, auto b) {
        if (s[a] != s[b]) return s[a] < s[b];
        return l[a] > l[b];
      });
      std::vector<token_id> want;
      double cum = 0;
      for (auto i : o) {
        want.push_back(static_cast<token_id>(i));
        cum += p[i];
        if (cum >= tau) break;
      }
      std::sort(want.begin(), want.end());
      REQUIRE(ids_of(c) == want);
    }
  }
}

TEST_CASE("penalties follow CTRL and OpenAI and are reset per sequence", "[sampling][penalty]") {
  const std::vector<float> l{2.f, -2.f, 1.f, 0.5f, 3.f};
  SECTION("repetition penalty divides positive logits and multiplies negative ones") {
    repetition_penalty r{2.0};
    const std::vector<token_id> prompt{0};
    r.observe_prompt(prompt);
    r.accept(1);
    r.accept(1);
    candidates c(l);
    r.apply(c);
    REQUIRE(logits_of(c) == std::vector<float>{1.f, -4.f, 1.f, 0.5f, 3.f});
    REQUIRE_FALSE(c.sorted());
    r.reset();
    candidates d(l);
    r.apply(d);
    REQUIRE(logits_of(d) == l);
  }
  SECTION("frequency and presence penalties subtract count·a_f + [count > 0]·a_p") {
    frequency_penalty f{0.5, 0.25};
    f.accept(2);
    f.accept(2);
    f.accept(4);
    candidates c(l);
    f.apply(c);
    REQUIRE(logits_of(c) == std::vector<float>{2.f, -2.f, 1.f - 1.0f - 0.25f, 0.5f, 3.f - 0.5f - 0.25f});
    // Works on a truncated, reordered set too.
    candidates t(l);
    top_k{3}.apply(t);
    f.apply(t);
    REQUIRE(ids_of(t) == std::vector<token_id>{4, 0, 2});
    REQUIRE(logits_of(t) == std::vector<float>{2.25f, 2.f, -0.25f});
    f.reset();
    candidates d(l);
    f.apply(d);
    REQUIRE(logits_of(d) == l);
  }
  SECTION("logit bias adds, -inf bans") {
    logit_bias b{{{4, neg_inf}, {1, 10.f}}};
    candidates c(l);
    b.apply(c);
    REQUIRE(logits_of(c) == std::vector<float>{2.f, 8.f, 1.f, 0.5f, neg_inf});
    REQUIRE(greedy{}.select(c) == 1);
  }
}

TEST_CASE("greedy picks the argmax with ties to the lowest id; log-prob 0", "[sampling][greedy]") {
  const std::vector<float> l{1.f, 3.f, 3.f, 0.f};
  candidates c(l);
  greedy g;
  REQUIRE(g.select(c) == 1);
  REQUIRE(g.log_prob(c, 1) == 0.0);
  REQUIRE(g.log_prob(c, 2) == -INFINITY);
  const std::vector<float> banned{neg_inf, neg_inf};
  REQUIRE_THROWS_AS(g.select(candidates(banned)), numerical_error);
  categorical cat;
  REQUIRE_THROWS_AS(cat.select(candidates(banned), counter_rng{1, 2}, 0), numerical_error);
}

TEST_CASE("categorical draws do not depend on the entry order", "[sampling][categorical]") {
  const auto l = rlhf::test::make_logits(logit_kind::ties, 3000, 5);
  const auto ids = rlhf::test::iota_ids(l.size());
  categorical cat;
  const counter_rng rng{42, 7};
  for (std::uint64_t step = 0; step < 50; ++step) {
    candidates a(l);
    const token_id want = cat.select(a, rng, step);
    // Same set, different arrangements: sorted, reversed, and truncation-free reshuffles.
    candidates s(l);
    s.sort();
    REQUIRE(cat.select(s, rng, step) == want);
    std::vector<token_id> rid(ids.rbegin(), ids.rend());
    std::vector<float> rl(l.rbegin(), l.rend());
    candidates r(rid, rl);
    REQUIRE(cat.select(r, rng, step) == want);
    REQUIRE(std::isfinite(cat.log_prob(a, want)));
  }
  // Small reordered sets take the index-sort path; check it agrees with id order too.
  const std::vector<token_id> sid{9, 4, 7, 1};
  const std::vector<float> sl{0.1f, 0.7f, -0.3f, 0.2f};
  const std::vector<token_id> sid2{1, 4, 7, 9};
  const std::vector<float> sl2{0.2f, 0.7f, -0.3f, 0.1f};
  for (std::uint64_t step = 0; step < 200; ++step)
    REQUIRE(cat.select(candidates(sid, sl), rng, step) == cat.select(candidates(sid2, sl2), rng, step));
}

TEST_CASE("bad parameters throw invalid_argument naming the stage and range", "[sampling][errors]") {
  REQUIRE_THROWS_WITH(top_p{0.0}, Catch::Contains("top_p") && Catch::Contains("(0, 1]"));
  REQUIRE_THROWS_AS(top_p{1.5}, invalid_argument);
  REQUIRE_THROWS_AS(top_p{std::nan("")}, invalid_argument);
  REQUIRE_THROWS_AS(top_p(0.5, 0), invalid_argument);
  REQUIRE_THROWS_WITH(top_k{-1}, Catch::Contains("top_k") && Catch::Contains("[0, inf)"));
  REQUIRE_THROWS_WITH(temperature{-0.5}, Catch::Contains("temperature") && Catch::Contains("[0, 3.4e38]"));
  REQUIRE_THROWS_AS(temperature{INFINITY}, invalid_argument);
  REQUIRE_THROWS_WITH(min_p{-0.1}, Catch::Contains("min_p") && Catch::Contains("[0, 1]"));
  REQUIRE_THROWS_AS(min_p{1.1}, invalid_argument);
  REQUIRE_THROWS_AS(typical{0.0}, invalid_argument);
  REQUIRE_THROWS_AS(repetition_penalty{0.0}, invalid_argument);
  REQUIRE_THROWS_AS(frequency_penalty(std::nan(""), 0.0), invalid_argument);
  REQUIRE_THROWS_AS(frequency_penalty(0.0, INFINITY), invalid_argument);
  REQUIRE_THROWS_AS(logit_bias({{-1, 1.f}}), invalid_argument);
  REQUIRE_THROWS_AS(logit_bias({{3, INFINITY}}), invalid_argument);
  REQUIRE_THROWS_AS(logit_bias({{3, 1.f}, {3, 2.f}}), invalid_argument);
}

TEST_CASE("radix_sort_canonical orders like std::sort with canonical_less", "[sampling][exact]") {
  rlhf::counter_rng rng(11, 0);
  std::uint64_t draw = 0;
  for (const std::size_t n : {0u, 1u, 511u, 512u, 777u, 5000u, 40000u}) {
    std::vector<rlhf::sampling::detail::entry> v(n);
    for (std::size_t i = 0; i < n; ++i) {
      const double u = rng.uniform(draw++);
      float l = static_cast<float>(std::round(rng.normal(draw++) * 8.0) / 4.0);  // many ties
      if (u < 0.05) l = neg_inf;
      else if (u < 0.10) l = -0.0f;
      else if (u < 0.15) l = 0.0f;
      else if (u < 0.20) l = std::ldexp(1.0f, -140);  // subnormal
      // Sparse ids over the whole non-negative range: every byte of the key varies.
      v[i] = {l, static_cast<token_id>((i * 2654435761u) % 2147483647u)};
    }
    auto want = v;
    std::sort(want.begin(), want.end(), rlhf::sampling::detail::canonical_less{});
    rlhf::sampling::detail::radix_sort_canonical(v);
    INFO("n " << n);
    bool same = true;
    for (std::size_t i = 0; i < n; ++i) same = same && v[i].id == want[i].id && v[i].logit == want[i].logit;
    REQUIRE(same);
  }
}
