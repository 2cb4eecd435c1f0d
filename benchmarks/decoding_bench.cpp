// SPDX-License-Identifier: MIT
// Reward-guided decoding against plain sampling, in one binary (docs/decoding_performance.md).
// Default backend; every model is the tiny GPT (V 256, 320 positions, C 128, 4 layers, 4 heads),
// the reward models the same size as the LM (other seeds). 8-token prompts, min_new_tokens =
// max_new_tokens and no EOS, so every row generates exactly the same number of tokens and times
// compare; the same seed every call, so every call does the same work. Sampler
// "top_k=10,temperature=0.7" for every method. Run with OMP_NUM_THREADS=1 (one thread).
//  - BM_decode/<method>/batch:B/new:64: one generate() of B prompts (one batch of B rows, or B·K
//    rows for best-of-N and block-wise CD), 64 new tokens each. Methods: plain (guide::none),
//    args (k = 10), farma, genarm, cards (segments 4..16, entropy threshold 2, a target reward
//    at which a third to a half of the segments are rejected), block_cd (K = 4, M = 8),
//    best_of_n (N = 4). Counters: tokens/s (returned tokens), lm_calls/tok, rm_calls/tok,
//    lm_passes/tok, rm_passes/tok (the per-sequence stats summed over the returned sequences,
//    ÷ their new tokens), and for CARDS the fraction of segment attempts rejected.
//  - BM_limit/<method>/batch:B/new:64: the model passes of a token-level method alone, the
//    floor its decoder can reach: the sessions started and prefilled, then per token one LM
//    step of B rows plus, for args, one reward-model score_candidates of B·k rows and the
//    commit_candidates of one per row (no model run; keeps the cache growing as in ARGS), for
//    farma one token-RM step of B rows, for genarm one reward-LM step of B rows. Fixed tokens,
//    no sampling, no guidance arithmetic.
//  - BM_pair/<target>: the targets, each the ratio of two of the calls above (or the
//    same decoders at 32 and 256 new tokens) measured in alternation: every iteration runs both
//    calls back to back (which goes first alternates), so the two see the same load of the
//    machine, and the ratio of that iteration's pair is taken. Counter `ratio`: the median of
//    the per-iteration ratios on this thread's CPU time (left out: time spent waiting for a
//    core); `ratio_wall` the same on wall time; a_ms, b_ms: the median calls. On a machine
//    shared with other processes, separately timed benchmarks drift apart by more than the
//    differences measured here; the pairs do not.
// The end of the output: the usual ratio table of the separate benchmarks (ratio_main.hpp:
// wall time; "speedup" = reference ÷ ours), then the targets table from the pairs, then the
// calls per token from the decoders' stats.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/decoding.hpp"
#include "rlhf/model/transformer.hpp"
#include "rlhf/sampling.hpp"
#include "ratio_main.hpp"

namespace {

using backend = rlhf::backend::default_backend;
using rlhf::index_t;
using rlhf::token_id;
using lm_t = rlhf::transformer<backend, rlhf::lm_head>;
using rm_t = rlhf::transformer<backend, rlhf::scalar_head>;
using trm_t = rlhf::transformer<backend, rlhf::token_reward_head>;

constexpr index_t prompt_len = 8, args_k = 10;
constexpr double cards_target = -0.1;  // r*: 1/3 (batch 1) to 1/2 (batch 8) of the segment attempts rejected
constexpr double cards_entropy = 2.0;  // nats

const rlhf::gpt2_config tiny{.vocab_size = 256, .n_positions = 320, .n_embd = 128, .n_layer = 4, .n_head = 4};

struct models {
  lm_t lm{tiny, 1};
  rm_t rm{tiny, 2};
  trm_t trm{tiny, 3};
  lm_t reward_lm{tiny, 4};
};
models& the_models() {
  static models m;
  return m;
}

std::vector<std::vector<token_id>> prompts(index_t n) {
  std::vector<std::vector<token_id>> p(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < prompt_len; ++j) p[i].push_back(static_cast<token_id>((i * 31 + j * 7 + 3) % tiny.vocab_size));
  return p;
}

const rlhf::sampling::any_sampler& the_sampler() {
  static const auto s = rlhf::sampling::any_sampler::parse("top_k=10,temperature=0.7");
  return s;
}

enum class method { plain, args, farma, genarm, cards, block_cd, best_of_n };
const char* name(method m) {
  switch (m) {
    case method::plain: return "plain";
    case method::args: return "args";
    case method::farma: return "farma";
    case method::genarm: return "genarm";
    case method::cards: return "cards";
    case method::block_cd: return "block_cd";
    case method::best_of_n: return "best_of_n";
  }
  return "?";
}

struct run_out {
  rlhf::generate_result result;
  index_t accepted = 0, rejected = 0;  // CARDS segment attempts
};

run_out run_method(method m, std::span<const std::vector<token_id>> p, const rlhf::generate_options& opt) {
  auto& ms = the_models();
  const auto& sampler = the_sampler();
  run_out out;
  switch (m) {
    case method::plain: {
      rlhf::guided_decoder dec(ms.lm, rlhf::guide::none{}, sampler);
      out.result = dec.generate(p, opt);
      break;
    }
    case method::args: {
      rlhf::guided_decoder dec(ms.lm, rlhf::guide::args(ms.rm, {.k = args_k, .w = 1.0}), sampler);
      out.result = dec.generate(p, opt);
      break;
    }
    case method::farma: {
      rlhf::guided_decoder dec(ms.lm, rlhf::guide::farma(ms.trm, {.w = 1.0}), sampler);
      out.result = dec.generate(p, opt);
      break;
    }
    case method::genarm: {
      rlhf::guided_decoder dec(ms.lm, rlhf::guide::genarm(ms.reward_lm, {.beta = 1.0}), sampler);
      out.result = dec.generate(p, opt);
      break;
    }
    case method::cards: {
      rlhf::cards_decoder dec(ms.lm, ms.rm, sampler,
                              rlhf::cards_options{.segment_min = 4, .segment_max = 16,
                                                  .entropy_threshold = cards_entropy, .target_reward = cards_target});
      out.result = dec.generate(p, opt);
      for (const auto& t : dec.trace()) {
        out.accepted += t.accepted;
        out.rejected += t.rejected;
      }
      break;
    }
    case method::block_cd: {
      rlhf::block_cd_decoder dec(ms.lm, ms.rm, sampler, {.blocks = 4, .block_len = 8});
      out.result = dec.generate(p, opt);
      break;
    }
    case method::best_of_n: {
      rlhf::best_of_n_decoder dec(ms.lm, ms.rm, sampler, {.n = 4});
      out.result = dec.generate(p, opt);
      break;
    }
  }
  return out;
}

/// One timed unit of work: a decoder call or a limit run, with a key naming its configuration.
struct call {
  std::string key;
  std::function<void()> run;
};

rlhf::generate_options decode_options(index_t batch, index_t new_tokens) {
  return {.max_new_tokens = new_tokens, .min_new_tokens = new_tokens, .eos_id = -1, .seed = 7, .batch_size = batch};
}

/// generate() of `batch` prompts with method m; the last result is left in *last when given.
call decode_call(method m, index_t batch, index_t new_tokens, run_out* last = nullptr) {
  auto p = std::make_shared<std::vector<std::vector<token_id>>>(prompts(batch));
  const auto opt = std::make_shared<rlhf::generate_options>(decode_options(batch, new_tokens));
  return {std::string(name(m)) + "/" + std::to_string(batch) + "/" + std::to_string(new_tokens), [=] {
            run_out r = run_method(m, *p, *opt);
            benchmark::DoNotOptimize(r.result.sequences.data());
            if (last) *last = std::move(r);
          }};
}

/// Token t of row b in the limit runs (any fixed ids do: the passes cost the same).
token_id fixed_token(index_t t, index_t b) { return static_cast<token_id>((t * 13 + b * 7 + 5) % tiny.vocab_size); }

/// The model passes of token-level method m alone (see the file comment).
call limit_call(method m, index_t batch, index_t new_tokens) {
  struct state {
    std::vector<std::vector<token_id>> p;
    std::vector<token_id> next, q_tokens;
    std::vector<index_t> q_rows, picks;
  };
  auto st = std::make_shared<state>();
  st->p = prompts(batch);
  st->next.resize(static_cast<std::size_t>(batch));
  for (index_t b = 0; b < batch; ++b) {
    st->picks.push_back(b * args_k);
    for (index_t j = 0; j < args_k; ++j) st->q_rows.push_back(b);
  }
  st->q_tokens.resize(st->q_rows.size());
  return {std::string("limit/") + name(m) + "/" + std::to_string(batch) + "/" + std::to_string(new_tokens), [=] {
            auto& ms = the_models();
            const index_t capacity = prompt_len + new_tokens;
            auto s = ms.lm.start_session(batch, capacity);
            benchmark::DoNotOptimize(s.prefill(st->p).data());
            const auto lm_step = [&](index_t t) {
              for (index_t b = 0; b < batch; ++b) st->next[b] = fixed_token(t, b);
              benchmark::DoNotOptimize(s.step(std::span<const token_id>(st->next)).data());
            };
            switch (m) {
              case method::plain:
                for (index_t t = 0; t < new_tokens; ++t) lm_step(t);
                break;
              case method::args: {
                auto r = ms.rm.start_session(batch, capacity);
                benchmark::DoNotOptimize(r.prefill(st->p)[0]);
                for (index_t t = 0; t < new_tokens; ++t) {
                  lm_step(t);
                  for (index_t b = 0; b < batch; ++b)
                    for (index_t j = 0; j < args_k; ++j) st->q_tokens[b * args_k + j] = fixed_token(t + j, b);
                  const auto v = r.score_candidates(std::span<const index_t>(st->q_rows),
                                                    std::span<const token_id>(st->q_tokens));
                  benchmark::DoNotOptimize(v[0]);
                  r.commit_candidates(std::span<const index_t>(st->picks));
                }
                break;
              }
              case method::farma: {
                auto r = ms.trm.start_session(batch, capacity);
                benchmark::DoNotOptimize(r.prefill(st->p).row(0).data());
                for (index_t t = 0; t < new_tokens; ++t) {
                  lm_step(t);
                  benchmark::DoNotOptimize(r.step(std::span<const token_id>(st->next)).row(0).data());
                }
                break;
              }
              case method::genarm: {
                auto r = ms.reward_lm.start_session(batch, capacity);
                benchmark::DoNotOptimize(r.prefill(st->p).data());
                for (index_t t = 0; t < new_tokens; ++t) {
                  lm_step(t);
                  benchmark::DoNotOptimize(r.step(std::span<const token_id>(st->next)).data());
                }
                break;
              }
              default: break;
            }
          }};
}

/// One untimed call per configuration before its first timed one (first-touch of the caches).
void warm_up(const call& c) {
  static std::set<std::string> warm;
  if (warm.insert(c.key).second) c.run();
}

/// CPU seconds of the calling thread (all the work when OMP_NUM_THREADS=1).
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void BM_decode(benchmark::State& st, method m, index_t batch) {
  constexpr index_t new_tokens = 64;
  run_out last;
  const call c = decode_call(m, batch, new_tokens, &last);
  warm_up(c);
  for (auto _ : st) c.run();
  if (last.result.stats.new_tokens != batch * new_tokens) {
    st.SkipWithError("a row did not generate exactly new_tokens tokens");
    return;
  }
  double lm_calls = 0, rm_calls = 0, lm_passes = 0, rm_passes = 0, n = 0;
  for (const auto& g : last.result.sequences) {
    lm_calls += static_cast<double>(g.stats.lm_calls);
    rm_calls += static_cast<double>(g.stats.rm_calls);
    lm_passes += static_cast<double>(g.stats.lm_passes);
    rm_passes += static_cast<double>(g.stats.rm_passes);
    n += static_cast<double>(g.stats.new_tokens);
  }
  st.counters["tokens/s"] = benchmark::Counter(n, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["lm_calls/tok"] = lm_calls / n;
  st.counters["rm_calls/tok"] = rm_calls / n;
  st.counters["lm_passes/tok"] = lm_passes / n;
  st.counters["rm_passes/tok"] = rm_passes / n;
  if (m == method::cards)
    st.counters["rejected"] = static_cast<double>(last.rejected) / static_cast<double>(last.accepted + last.rejected);
}

void BM_limit(benchmark::State& st, method m, index_t batch) {
  const call c = limit_call(m, batch, 64);
  warm_up(c);
  for (auto _ : st) c.run();
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(batch * 64), benchmark::Counter::kIsIterationInvariantRate);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// scale · time(a) / time(b), a and b run back to back in every iteration (see the file comment).
void BM_pair(benchmark::State& st, const call& a, const call& b, double scale) {
  warm_up(a);
  warm_up(b);
  std::vector<double> ta, tb, wa, wb, r, rw;
  const auto timed = [](const call& c, std::vector<double>& cpu, std::vector<double>& wall) {
    const double c0 = thread_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    c.run();
    wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    cpu.push_back(thread_seconds() - c0);
  };
  bool a_first = true;
  for (auto _ : st) {
    if (a_first) {
      timed(a, ta, wa);
      timed(b, tb, wb);
    } else {
      timed(b, tb, wb);
      timed(a, ta, wa);
    }
    a_first = !a_first;
    r.push_back(scale * ta.back() / tb.back());
    rw.push_back(scale * wa.back() / wb.back());
  }
  st.counters["ratio"] = median(r);
  st.counters["ratio_wall"] = median(rw);
  st.counters["a_ms"] = median(ta) * 1e3;
  st.counters["b_ms"] = median(tb) * 1e3;
}

std::string decode_name(method m, index_t b) {
  return std::string("BM_decode/") + name(m) + "/batch:" + std::to_string(b) + "/new:64";
}
std::string limit_name(method m, index_t b) {
  return std::string("BM_limit/") + name(m) + "/batch:" + std::to_string(b) + "/new:64";
}

constexpr method all_methods[] = {method::plain, method::args,     method::farma,    method::genarm,
                                  method::cards, method::block_cd, method::best_of_n};
constexpr method token_level[] = {method::plain, method::args, method::farma, method::genarm};
constexpr method scaling[] = {method::plain, method::args, method::farma};
constexpr index_t batches[] = {1, 8};

/// A target of the issue: the pair benchmark that measures it, and its bound.
struct target {
  std::string bench;  // BM_pair/... name
  std::string what;
  char op = '<';      // '<': ratio <= bound; '>': ratio >= bound; 0: no target
  double bound = 0;
  std::string bound_from;  // '>' against another pair's ratio (args, farma batching vs plain's)
};
std::vector<target>& targets() {
  static std::vector<target> t;
  return t;
}

void register_all() {
  for (index_t b : batches)
    for (method m : all_methods) {
      benchmark::RegisterBenchmark(decode_name(m, b).c_str(), BM_decode, m, b)
          ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.05);
      if (std::find(std::begin(token_level), std::end(token_level), m) != std::end(token_level))
        benchmark::RegisterBenchmark(limit_name(m, b).c_str(), BM_limit, m, b)
            ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.05);
    }
  const auto pair = [](const std::string& bench, const std::string& what, call a, call b, double scale, int rounds,
                       char op, double bound, std::string bound_from = {}) {
    benchmark::RegisterBenchmark(bench.c_str(), [=](benchmark::State& st) { BM_pair(st, a, b, scale); })
        ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(rounds);
    targets().push_back({bench, what, op, bound, std::move(bound_from)});
  };
  // 1. each method ÷ plain sampling, 64 tokens
  for (index_t b : batches)
    for (method m : all_methods) {
      if (m == method::plain) continue;
      const char op = m == method::args || m == method::farma || m == method::cards ? '<' : 0;
      const double bound = m == method::args ? 6.0 : m == method::farma ? 2.2 : m == method::cards ? 5.0 : 0.0;
      pair("BM_pair/" + std::string(name(m)) + "_over_plain/batch:" + std::to_string(b),
           std::string(name(m)) + " / plain, batch " + std::to_string(b), decode_call(m, b, 64),
           decode_call(method::plain, b, 64), 1.0, 7, op, bound);
    }
  // 2. each token-level method ÷ its model passes alone
  for (index_t b : batches)
    for (method m : token_level)
      pair("BM_pair/" + std::string(name(m)) + "_over_limit/batch:" + std::to_string(b),
           std::string(name(m)) + " / its limit, batch " + std::to_string(b), decode_call(m, b, 64),
           limit_call(m, b, 64), 1.0, 7, '<', 1.25);
  // 3. time per token at 256 new tokens ÷ at 32
  for (index_t b : batches)
    for (method m : scaling)
      pair("BM_pair/" + std::string(name(m)) + "_256_over_32/batch:" + std::to_string(b),
           std::string(name(m)) + " per-token time 256 / 32, batch " + std::to_string(b), decode_call(m, b, 256),
           decode_call(m, b, 32), 32.0 / 256.0, 5, '<', 1.5);
  // 4. tokens/s at batch 8 ÷ at batch 1 = 8 · time(batch 1) / time(batch 8)
  for (method m : scaling)
    pair("BM_pair/" + std::string(name(m)) + "_batching", std::string(name(m)) + " tokens/s batch 8 / batch 1",
         decode_call(m, 1, 64), decode_call(m, 8, 64), 8.0, 7, m == method::plain ? 0 : '>', 0.0,
         m == method::plain ? "" : "BM_pair/plain_batching");
}

/// ratio_reporter that also keeps every benchmark's counters (iteration runs) for the tables.
class targets_reporter : public rlhf_bench::ratio_reporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.error_occurred || r.iterations == 0 || r.run_type != Run::RT_Iteration) continue;
      auto& e = counters_[r.run_name.function_name];
      for (const auto& [k, c] : r.counters) e[k] = c.value;
    }
    ratio_reporter::ReportRuns(runs);
  }
  /// Counter k of benchmark n; nullptr when it did not run.
  const double* find(const std::string& n, const std::string& k) const {
    const auto it = counters_.find(n);
    if (it == counters_.end()) return nullptr;
    const auto c = it->second.find(k);
    return c == it->second.end() ? nullptr : &c->second;
  }

 private:
  std::map<std::string, std::map<std::string, double>> counters_;
};

void print_tables(const targets_reporter& rep) {
  std::printf("\n%-50s %10s %10s %12s  %s\n", "target (pairs in alternation, medians)", "ratio CPU", "ratio wall",
              "target", "met (CPU)");
  for (const auto& t : targets()) {
    const double* x = rep.find(t.bench, "ratio");
    const double* w = rep.find(t.bench, "ratio_wall");
    if (!x || !w) continue;
    double bound = t.bound;
    if (!t.bound_from.empty()) {
      const double* b = rep.find(t.bound_from, "ratio");
      if (!b) continue;
      bound = *b;
    }
    if (t.op == 0) {
      std::printf("%-50s %10.2f %10.2f %12s  %s\n", t.what.c_str(), *x, *w, "-", "-");
      continue;
    }
    const bool met = t.op == '<' ? *x <= bound : *x >= bound;
    std::printf("%-50s %10.2f %10.2f %4s %7.2f  %s\n", t.what.c_str(), *x, *w, t.op == '<' ? "<=" : ">=", bound,
                met ? "yes" : "NO");
  }
  std::printf("\n%-40s %12s %12s %13s %13s %9s\n", "calls per token (stats)", "lm_calls/tok", "rm_calls/tok",
              "lm_passes/tok", "rm_passes/tok", "rejected");
  for (index_t b : batches)
    for (method m : all_methods) {
      const auto n = decode_name(m, b);
      if (!rep.find(n, "lm_calls/tok")) continue;
      const auto c = [&](const char* k) {
        const double* v = rep.find(n, k);
        return v ? *v : 0.0;
      };
      std::printf("%-40s %12.3f %12.3f %13.3f %13.3f", n.c_str(), c("lm_calls/tok"), c("rm_calls/tok"),
                  c("lm_passes/tok"), c("rm_passes/tok"));
      if (m == method::cards) std::printf(" %9.3f", c("rejected"));
      std::printf("\n");
    }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const char* omp = std::getenv("OMP_NUM_THREADS");
  benchmark::AddCustomContext("OMP_NUM_THREADS", omp ? omp : "(unset)");
  register_all();
  targets_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios({
      {"BM_decode/args", "BM_decode/plain", "plain / ARGS k=10 (issue: ARGS <= 6x plain)"},
      {"BM_decode/farma", "BM_decode/plain", "plain / FaRMA (issue: FaRMA <= 2.2x plain)"},
      {"BM_decode/genarm", "BM_decode/plain", "plain / GenARM"},
      {"BM_decode/cards", "BM_decode/plain", "plain / CARDS (issue: CARDS <= 5x plain)"},
      {"BM_decode/block_cd", "BM_decode/plain", "plain / block CD K=4 M=8"},
      {"BM_decode/best_of_n", "BM_decode/plain", "plain / best-of-4"},
      {"BM_decode/plain", "BM_limit/plain", "LM steps alone / plain decoding (issue: >= 0.8)"},
      {"BM_decode/args", "BM_limit/args", "model passes alone / ARGS (issue: >= 0.8)"},
      {"BM_decode/farma", "BM_limit/farma", "model passes alone / FaRMA (issue: >= 0.8)"},
      {"BM_decode/genarm", "BM_limit/genarm", "model passes alone / GenARM (issue: >= 0.8)"},
  });
  print_tables(reporter);
  benchmark::Shutdown();
  return 0;
}
