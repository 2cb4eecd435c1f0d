// SPDX-License-Identifier: MIT
// Samplers: compile-time chains and their order semantics, the runtime any_sampler and its
// string parser, log-prob semantics of sample_row, and chi-square tests that categorical
// sampling after each truncation follows the renormalised distribution.
//
// Statistical tests: each chi-square test rejects at the upper 1e-4 quantile, so with the
// fixed seeds below a correct sampler fails a given test with probability <= 1e-4 (the seeds
// are fixed, so the outcome is deterministic; the bound says how lucky a pass would have to be
// for a wrong sampler). There are 7 such tests: family-wise false-alarm rate <= 7e-4.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <vector>

#include "reference.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/sampling.hpp"

using namespace rlhf;
using namespace rlhf::sampling;
using rlhf::test::logit_kind;
using rlhf::test::neg_inf;

// Archetypes: the least a processor / selector must provide; the chain and any_sampler must work
// with them (they use nothing beyond the concepts), and a third-party type opts in by
// specialising enable_logit_processor instead of carrying a tag.
namespace archetype {
struct processor {
  using rlhf_concept = rlhf::logit_processor_tag;
  void apply(rlhf::sampling::candidates& c) const { c.keep_if([](rlhf::index_t i) { return i % 2 == 0; }); }
};
struct selector {
  using rlhf_concept = rlhf::selector_tag;
  rlhf::token_id select(const rlhf::sampling::candidates& c, const rlhf::counter_rng&, std::uint64_t) const {
    return c.id(c.size() - 1);
  }
  double log_prob(const rlhf::sampling::candidates&, rlhf::token_id) const { return 0.0; }
};
struct third_party_scale {  // no tag: opted in below
  void apply(rlhf::sampling::candidates& c) const {
    for (float& x : c.logits()) x *= 2.0f;
  }
};
}  // namespace archetype
template <>
inline constexpr bool rlhf::enable_logit_processor<archetype::third_party_scale> = true;

namespace {
std::vector<token_id> ids_of(const candidates& c) { return {c.ids().begin(), c.ids().end()}; }

static_assert(rlhf::sampler<chain<top_k, temperature, categorical>>);
static_assert(rlhf::sampler<chain<greedy>>);
static_assert(rlhf::sampler<any_sampler>);
static_assert(!rlhf::logit_processor<greedy> && !rlhf::selector<top_k>);
static_assert(stateful<chain<repetition_penalty, categorical>>);

/// Chi-square statistic of `draws` samples of `s` (fresh candidates each draw) against the
/// renormalised softmax over `want_ids` of logits `l` (after `temp`); bins are ids.
template <class Sampler>
void chi_square_check(Sampler s, const std::vector<float>& l, const std::vector<token_id>& want_ids, double temp,
                      std::uint64_t seed, int draws = 20000) {
  std::map<token_id, double> expect;
  double z = 0;
  double m = -INFINITY;
  for (token_id t : want_ids) m = std::max(m, double(l[static_cast<std::size_t>(t)] / static_cast<float>(temp)));
  for (token_id t : want_ids) z += std::exp(double(l[static_cast<std::size_t>(t)] / static_cast<float>(temp)) - m);
  for (token_id t : want_ids)
    expect[t] = draws * std::exp(double(l[static_cast<std::size_t>(t)] / static_cast<float>(temp)) - m) / z;
  std::map<token_id, double> seen;
  const counter_rng rng(seed, 3);
  candidates c;
  for (int i = 0; i < draws; ++i) {
    c.assign(l);
    const auto r = s.sample(c, rng, static_cast<std::uint64_t>(i));
    REQUIRE(expect.count(r.token) == 1);  // never outside the kept set
    seen[r.token] += 1;
  }
  double chi2 = 0;
  std::size_t bins = 0;
  for (const auto& [t, e] : expect) {
    if (e == 0.0) {  // a -inf logit: must never be drawn
      REQUIRE(seen[t] == 0.0);
      continue;
    }
    REQUIRE(e >= 5.0);  // the test's own validity condition
    chi2 += (seen[t] - e) * (seen[t] - e) / e;
    ++bins;
  }
  const std::size_t df = bins - 1;
  INFO("chi2 " << chi2 << " df " << df << " critical " << rlhf::test::chi2_critical_1e4(df));
  if (df > 0) REQUIRE(chi2 < rlhf::test::chi2_critical_1e4(df));
}
}  // namespace

TEST_CASE("chain applies processors in the written order, then selects", "[sampling][chain]") {
  const std::vector<float> l{3.f, 2.f, 1.f, 0.f, -1.f};
  SECTION("temperature before top_p widens the nucleus; after it, it does not") {
    chain hot_first{temperature{4.0}, top_p{0.6}, greedy{}};
    chain cut_first{top_p{0.6}, temperature{4.0}, greedy{}};
    candidates a(l), b(l);
    hot_first.process(a);
    cut_first.process(b);
    REQUIRE(ids_of(a) == std::vector<token_id>{0, 1, 2});  // softmax(l/4): 0.31 + 0.24 < 0.6 <= +0.19
    REQUIRE(ids_of(b) == std::vector<token_id>{0});          // softmax(3,2,1,0,-1): 0.636 >= 0.6
  }
  SECTION("top_k is invariant to temperature; min_p after top_k sees the kept set") {
    chain a{top_k{3}, temperature{0.5}, categorical{}};
    chain b{temperature{0.5}, top_k{3}, categorical{}};
    candidates ca(l), cb(l);
    a.process(ca);
    b.process(cb);
    REQUIRE(ids_of(ca) == ids_of(cb));
    for (std::uint64_t step = 0; step < 100; ++step) {
      candidates x(l), y(l);
      const counter_rng rng(9, 1);
      REQUIRE(a.sample(x, rng, step).token == b.sample(y, rng, step).token);
    }
  }
  SECTION("temperature 0 is greedy with sampling log-prob 0") {
    chain g{temperature{0.0}, categorical{}};
    candidates c(l);
    const auto r = g.sample(c, counter_rng(1, 1), 0);
    REQUIRE(r.token == 0);
    REQUIRE(r.sampling_logprob == 0.0);
  }
  SECTION("accept and reset reach stateful stages") {
    chain s{repetition_penalty{100.0}, greedy{}};
    candidates c(l);
    REQUIRE(s.sample(c, counter_rng(0, 0), 0).token == 0);
    s.accept(0);
    c.assign(l);
    REQUIRE(s.sample(c, counter_rng(0, 0), 1).token == 1);  // 3/100 < 2
    s.reset();
    c.assign(l);
    REQUIRE(s.sample(c, counter_rng(0, 0), 2).token == 0);
    REQUIRE(s.stage<0>().value() == Approx(100.0));
  }
}

TEST_CASE("chains and any_sampler accept any type modelling the concepts", "[sampling][concepts]") {
  STATIC_REQUIRE(rlhf::logit_processor<archetype::processor>);
  STATIC_REQUIRE(rlhf::selector<archetype::selector>);
  STATIC_REQUIRE(rlhf::logit_processor<archetype::third_party_scale>);
  STATIC_REQUIRE(rlhf::sampler<chain<archetype::processor, archetype::third_party_scale, archetype::selector>>);
  STATIC_REQUIRE_FALSE(stateful<archetype::processor>);
  const std::vector<float> l{0.f, 1.f, 2.f, 3.f, 4.f};
  chain s{archetype::processor{}, archetype::third_party_scale{}, archetype::selector{}};
  candidates c(l);
  const auto r = s.sample(c, counter_rng(0, 0), 0);
  REQUIRE(r.token == 4);
  REQUIRE(ids_of(c) == std::vector<token_id>{0, 2, 4});
  REQUIRE(c.logit(2) == 8.f);
  s.accept(4);  // broadcast to stages without hooks is a no-op
  s.reset();
  any_sampler a;
  a.then(archetype::processor{}, "even").select_with(archetype::selector{}, "last");
  REQUIRE(a.describe() == "even -> last");
  candidates d(l);
  REQUIRE(a.sample(d, counter_rng(0, 0), 0).token == 4);
}

TEST_CASE("any_sampler parses the --sampler string", "[sampling][parser]") {
  const auto l = rlhf::test::make_logits(logit_kind::gaussian, 500, 17);
  SECTION("stages in the written order, equal to the same chain") {
    auto s = any_sampler::parse("temperature=0.7, top_k=40,top_p=0.9,min_p=0.05");
    REQUIRE(s.size() == 4);
    REQUIRE(s.describe() == "temperature=0.7 -> top_k=40 -> top_p=0.9 -> min_p=0.05 -> categorical");
    chain ref{temperature{0.7}, top_k{40}, top_p{0.9}, min_p{0.05}, categorical{}};
    for (std::uint64_t step = 0; step < 50; ++step) {
      candidates a(l), b(l);
      const counter_rng rng(5, step);
      const auto ra = s.sample(a, rng, step);
      const auto rb = ref.sample(b, rng, step);
      REQUIRE(ids_of(a) == ids_of(b));
      REQUIRE(ra.token == rb.token);
      REQUIRE(ra.sampling_logprob == rb.sampling_logprob);
    }
  }
  SECTION("greedy, temperature=0 and the empty string") {
    auto g = any_sampler::parse("top_k=3,greedy");
    auto t0 = any_sampler::parse("temperature=0");
    auto plain = any_sampler::parse("");
    REQUIRE(t0.describe() == "temperature=0 -> greedy");
    REQUIRE(plain.describe() == "categorical");
    candidates a(l), b(l);
    const token_id best = static_cast<token_id>(std::max_element(l.begin(), l.end()) - l.begin());
    REQUIRE(g.sample(a, counter_rng(1, 1), 0).token == best);
    REQUIRE(t0.sample(b, counter_rng(1, 1), 0).token == best);
    candidates c(l);
    plain.sample(c, counter_rng(1, 1), 0);
    REQUIRE(c.size() == 500);
  }
  SECTION("penalties, typical and logit_bias") {
    auto s = any_sampler::parse("repetition_penalty=1.3,frequency_penalty=0.5,presence_penalty=0.1,"
                                "logit_bias=7:-inf;8:2.5,min_p=0.01,categorical");
    REQUIRE(s.size() == 5);
    REQUIRE(any_sampler::parse("typical_p=0.5").describe() == "typical_p=0.5 -> categorical");
    auto copy = s;  // deep copy: state is not shared
    const std::vector<token_id> prompt{1, 2};
    s.observe_prompt(prompt);
    s.accept(3);
    std::vector<float> flat(10, 0.f);
    candidates a(flat), b(flat);
    s.process(a);
    copy.process(b);
    REQUIRE(a.logit(a.locate(1)) == 0.f);  // 0 / 1.3 (repetition on prompt)
    REQUIRE(a.logit(a.locate(3)) == Approx(-0.6f));  // frequency 0.5 + presence 0.1
    REQUIRE(b.logit(b.locate(3)) == 0.f);
    REQUIRE(a.locate(8) >= 0);
    REQUIRE(a.logit(a.locate(8)) == 2.5f);
    REQUIRE(a.locate(7) < 0);  // banned by logit_bias, then removed by min_p (zero mass)
  }
  SECTION("bad strings name the stage and the allowed range") {
    auto bad = [](const char* s) { return any_sampler::parse(s); };
    REQUIRE_THROWS_WITH(bad("top_p=1.5"), Catch::Contains("top_p") && Catch::Contains("(0, 1]"));
    REQUIRE_THROWS_WITH(bad("top_p=0"), Catch::Contains("top_p"));
    REQUIRE_THROWS_WITH(bad("top_k=-1"), Catch::Contains("top_k") && Catch::Contains("[0, inf)"));
    REQUIRE_THROWS_WITH(bad("top_k=4.5"), Catch::Contains("top_k") && Catch::Contains("integer"));
    REQUIRE_THROWS_WITH(bad("temperature=-1"), Catch::Contains("temperature"));
    REQUIRE_THROWS_WITH(bad("min_p=2"), Catch::Contains("min_p") && Catch::Contains("[0, 1]"));
    REQUIRE_THROWS_WITH(bad("top_p=abc"), Catch::Contains("top_p") && Catch::Contains("not a number"));
    REQUIRE_THROWS_WITH(bad("top_p=nan"), Catch::Contains("not a number"));
    REQUIRE_THROWS_WITH(bad("top_p=0.9x"), Catch::Contains("not a number"));
    REQUIRE_THROWS_WITH(bad("top_p="), Catch::Contains("top_p"));
    REQUIRE_THROWS_WITH(bad("nucleus=0.9"), Catch::Contains("unknown stage 'nucleus'") && Catch::Contains("top_p"));
    REQUIRE_THROWS_WITH(bad("top_k"), Catch::Contains("needs a value"));
    REQUIRE_THROWS_WITH(bad("greedy,top_k=3"), Catch::Contains("last item"));
    REQUIRE_THROWS_WITH(bad("greedy=1"), Catch::Contains("takes no value"));
    REQUIRE_THROWS_WITH(bad("top_k=3,,top_p=0.9"), Catch::Contains("empty item"));
    REQUIRE_THROWS_WITH(bad("seed=4"), Catch::Contains("seed"));
    REQUIRE_THROWS_WITH(bad("logit_bias=5"), Catch::Contains("ID:BIAS"));
    REQUIRE_THROWS_WITH(bad("logit_bias=5:inf"), Catch::Contains("logit_bias"));
    REQUIRE_THROWS_WITH(bad("logit_bias=-2:1"), Catch::Contains("logit_bias"));
    REQUIRE_THROWS_WITH(bad("repetition_penalty=0"), Catch::Contains("repetition_penalty"));
    REQUIRE_THROWS_AS(bad("frequency_penalty=inf"), invalid_argument);
  }
}

TEST_CASE("sample_row reports model and sampling log-probs and the kept mass", "[sampling][logprob]") {
  const std::vector<float> l{2.f, 1.f, 0.5f, -1.f, neg_inf};
  const double lse = std::log(std::exp(2.0) + std::exp(1.0) + std::exp(0.5) + std::exp(-1.0));
  candidates work;
  SECTION("truncation: sampling log-prob is renormalised over the kept set") {
    chain s{top_k{2}, temperature{0.5}, categorical{}};
    for (std::uint64_t step = 0; step < 20; ++step) {
      const auto r = sample_row(s, l, work, counter_rng(3, 0), step);
      REQUIRE((r.token == 0 || r.token == 1));
      const double lq = (r.token == 0 ? 4.0 : 2.0) - std::log(std::exp(4.0) + std::exp(2.0));
      REQUIRE(r.model_logprob == Approx(l[static_cast<std::size_t>(r.token)] - lse).epsilon(1e-12));
      REQUIRE(r.sampling_logprob == Approx(lq).epsilon(1e-12));
      REQUIRE(r.kept_mass == Approx((std::exp(2.0) + std::exp(1.0)) / std::exp(lse)).epsilon(1e-12));
    }
  }
  SECTION("no processing: both log-probs agree and the kept mass is 1") {
    chain s{categorical{}};
    const auto r = sample_row(s, l, work, counter_rng(3, 0), 1);
    REQUIRE(r.sampling_logprob == Approx(r.model_logprob).epsilon(1e-12));
    REQUIRE(r.kept_mass == Approx(1.0).epsilon(1e-12));
  }
  SECTION("banned ids are never drawn but keep their model log-prob") {
    chain s{greedy{}};
    const std::vector<token_id> ban{0};
    const auto r = sample_row(s, l, work, counter_rng(3, 0), 0, ban);
    REQUIRE(r.token == 1);
    REQUIRE(r.sampling_logprob == 0.0);
    REQUIRE(r.model_logprob == Approx(1.0 - lse).epsilon(1e-12));
    REQUIRE(r.kept_mass == Approx(1.0 - std::exp(2.0 - lse)).epsilon(1e-12));
    const std::vector<token_id> out_of_range{9};
    REQUIRE_THROWS_AS(sample_row(s, l, work, counter_rng(3, 0), 0, out_of_range), invalid_argument);
  }
  SECTION("a NaN logit from the model is a numerical_error naming the token") {
    chain s{greedy{}};
    const std::vector<float> nan_row{0.0f, std::nanf(""), 1.0f};
    REQUIRE_THROWS_AS(sample_row(s, nan_row, work, counter_rng(3, 0), 0), numerical_error);
    REQUIRE_THROWS_WITH(sample_row(s, nan_row, work, counter_rng(3, 0), 0), Catch::Contains("token 1"));
  }
}

TEST_CASE("categorical sampling after each truncation matches the renormalised distribution",
          "[sampling][statistical]") {
  // 24 tokens, Gaussian logits with ties: truncation boundaries fall inside tie groups.
  auto l = rlhf::test::make_logits(logit_kind::ties, 24, 101);
  l[5] = neg_inf;
  const auto ids = rlhf::test::iota_ids(l.size());
  SECTION("no truncation") { chi_square_check(chain{categorical{}}, l, rlhf::test::ref_top_p(l, ids, 1.0), 1.0, 1); }
  SECTION("top_k = 6") { chi_square_check(chain{top_k{6}, categorical{}}, l, rlhf::test::ref_top_k(l, ids, 6), 1.0, 2); }
  SECTION("top_p = 0.8") {
    chi_square_check(chain{top_p{0.8}, categorical{}}, l, rlhf::test::ref_top_p(l, ids, 0.8), 1.0, 3);
  }
  SECTION("min_p = 0.1") {
    chi_square_check(chain{min_p{0.1}, categorical{}}, l, rlhf::test::ref_min_p(l, ids, 0.1), 1.0, 4);
  }
  SECTION("temperature 0.6 then top_k = 8") {
    chi_square_check(chain{temperature{0.6}, top_k{8}, categorical{}}, l, rlhf::test::ref_top_k(l, ids, 8), 0.6, 5);
  }
  SECTION("parsed temperature=1.7,top_p=0.9") {
    std::vector<float> hot(l);
    for (float& x : hot) x /= 1.7f;
    chi_square_check(any_sampler::parse("temperature=1.7,top_p=0.9"), l, rlhf::test::ref_top_p(hot, ids, 0.9), 1.7, 6);
  }
  SECTION("typical = 0.7 on sorted input") {
    candidates c(l);
    typical{0.7}.apply(c);
    chi_square_check(chain{typical{0.7}, categorical{}}, l, ids_of(c), 1.0, 7);
  }
}

TEST_CASE("temperatures and penalties outside float's range: greedy or refused, never NaN", "[sampling][fuzz]") {
  const std::vector<float> logits{0.5f, -1.0f, 2.0f, 0.0f, neg_inf, 1.5f};
  // A T so small that logit / T overflows float is the T -> 0 limit: greedy, log q = 0.
  for (const double t : {1e-40, 1e-58, 1e-300}) {
    INFO(t);
    candidates c(logits);
    temperature(t).apply(c);
    REQUIRE(c.size() == 1);
    CHECK(c.id(0) == 2);
  }
  CHECK_THROWS_AS(temperature(5.5e43), rlhf::invalid_argument);  // finite as a double, inf as a float
  CHECK_THROWS_AS(repetition_penalty(1e-50), rlhf::invalid_argument);
  CHECK_THROWS_AS(repetition_penalty(1e300), rlhf::invalid_argument);
  // The fuzzer's finding (tests/fuzz, sampler): this spec sampled with log q = NaN. Now it is
  // refused by name (T = 5.6e43 does not fit a float).
  const std::string spec = rlhf::io::read_file(RLHF_TEST_DATA_DIR "/fuzz_regressions/sampler/crash-40cfc535ed02");
  CHECK_THROWS_WITH(any_sampler::parse(spec), Catch::Contains("temperature"));
}
