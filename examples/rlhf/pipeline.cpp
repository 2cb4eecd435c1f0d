// SPDX-License-Identifier: MIT
// rlhf pipeline: the main job (CLI.md, docs/pipeline.md). The built-in task end to end — real
// review sentences fetched by package name, a BPE vocabulary trained on them, SFT π_ref,
// preference pairs labelled by Bradley–Terry noise on the held-out gold reward (VADER), reward
// models of every kind, DPO and PPO policies — then every method of the seed's Table 2 on
// held-out prompts, printed as the table and written as results.jsonl, results.csv and pictures.
//
// Each stage is the rlhf command of the same name run in process (commands.hpp), writing its
// directory under --out; a stage whose directory holds a `.done` file with the same settings is
// skipped, so a rerun continues where an interrupted one stopped.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <rlhf/core/math.hpp>
#include <rlhf/core/rng.hpp>
#include <rlhf/data.hpp>
#include <rlhf/data/vader.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "common.hpp"
#include "pipeline.hpp"
#include "task_sources.hpp"

namespace rlhf::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// ---- settings -------------------------------------------------------------------------------

/// Everything a run's size depends on; --quick is the CI smoke run (<= 3 minutes on 2 cores).
struct pipeline_plan {
  std::size_t vocab = 1024;            ///< BPE vocabulary
  std::size_t fluency_sentences = 4000;  ///< Brown sentences added to the SFT corpus
  std::int64_t n_embd = 96, n_layer = 3, n_head = 3, n_positions = 64;
  std::int64_t sft_epochs = 3;
  std::size_t pref_prompts = 2400;     ///< training prompts labelled
  int pref_samples = 4;                ///< π_ref samples per labelled prompt (every non-tied pair is labelled)
  std::int64_t reward_epochs = 2;
  std::int64_t dpo_epochs = 2;
  std::int64_t ppo_steps = 200, ppo_batch = 16;  ///< 3,200 episodes: about DPO's wall time
  std::int64_t max_new_tokens = 20;
  std::int64_t args_k = 10;
  std::int64_t bon_n = 4;

  static pipeline_plan make(bool quick) {
    pipeline_plan p;
    if (!quick) return p;
    p.vocab = 512;
    p.fluency_sentences = 600;
    p.n_embd = 48;
    p.n_layer = 2;
    p.n_head = 2;
    p.sft_epochs = 2;
    p.pref_prompts = 240;
    p.reward_epochs = 1;
    p.dpo_epochs = 1;
    p.ppo_steps = 6;
    p.ppo_batch = 8;
    p.max_new_tokens = 12;
    return p;
  }
  json to_json() const {
    return {{"vocab", vocab}, {"fluency_sentences", fluency_sentences}, {"n_embd", n_embd}, {"n_layer", n_layer},
            {"n_head", n_head}, {"n_positions", n_positions}, {"sft_epochs", sft_epochs},
            {"pref_prompts", pref_prompts}, {"pref_samples", pref_samples}, {"reward_epochs", reward_epochs}, {"dpo_epochs", dpo_epochs},
            {"ppo_steps", ppo_steps}, {"ppo_batch", ppo_batch}, {"max_new_tokens", max_new_tokens},
            {"args_k", args_k}, {"bon_n", bon_n}};
  }
};

// ---- stages ---------------------------------------------------------------------------------

/// Under mpirun: `f` on rank 0 alone (what writes the stages' files), the other processes waiting
/// until it is done. An error on rank 0 ends the job (run_command_line aborts it). One process: f().
template <class F>
void on_rank0(F&& f) {
  const auto& world = rlhf::dist::world();
  if (world.is_root()) f();
  world.barrier();
}

/// Runs the stages in order with progress and an ETA on stderr, skipping finished ones.
class stage_runner {
 public:
  stage_runner(fs::path out, json settings, std::vector<std::pair<std::string, double>> weights)
      : out_(std::move(out)), settings_(std::move(settings)), weights_(std::move(weights)),
        t0_(std::chrono::steady_clock::now()) {
    for (const auto& [name, w] : weights_) total_ += w;
  }

  /// Runs `f` as stage `name` (its directory OUT/name) unless it finished before with the same settings.
  template <class F>
  void run(const std::string& name, F&& f) {
    const fs::path dir = out_ / name, marker = dir / ".done";
    const double w = weight(name);
    ++index_;
    if (fs::exists(marker)) {
      json was;
      std::ifstream(marker) >> was;
      if (was != settings_)
        throw usage_error("--out " + out_.string() + ": stage " + name + " was run with other settings (" +
                          was.dump() + "); use another --out or remove " + dir.string());
      std::fprintf(stderr, "[pipeline %zu/%zu] %s: done before, skipped\n", index_, weights_.size(), name.c_str());
      done_ += w;
      return;
    }
    std::fprintf(stderr, "[pipeline %zu/%zu] %s ... (elapsed %s%s)\n", index_, weights_.size(), name.c_str(),
                 clock_text(elapsed()).c_str(), eta_text().c_str());
    const auto t = std::chrono::steady_clock::now();
    on_rank0([&] { fs::create_directories(dir); });
    f(dir);
    on_rank0([&] { std::ofstream(marker) << settings_.dump(); });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    std::fprintf(stderr, "[pipeline %zu/%zu] %s: %.1fs\n", index_, weights_.size(), name.c_str(), s);
    done_ += w;
    measured_ += w;
    measured_s_ += s;
  }

  double elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

 private:
  double weight(const std::string& name) const {
    for (const auto& [n, w] : weights_)
      if (n == name) return w;
    return 0;
  }
  std::string eta_text() const {
    if (measured_ <= 0) return "";
    return ", ETA " + clock_text((total_ - done_) * measured_s_ / measured_);
  }
  static std::string clock_text(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%d:%02d", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    return buf;
  }

  fs::path out_;
  json settings_;
  std::vector<std::pair<std::string, double>> weights_;
  std::chrono::steady_clock::time_point t0_;
  double total_ = 0, done_ = 0, measured_ = 0, measured_s_ = 0;
  std::size_t index_ = 0;
};

// ---- the task -------------------------------------------------------------------------------

/// Words of a sentence (split on spaces).
std::vector<std::string> words_of(const std::string& s) {
  std::vector<std::string> w;
  std::istringstream in(s);
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

/// A sentence split into a prompt of its first 2–4 words and the continuation (" rest").
struct split_sentence {
  std::string prompt, completion;
};
std::optional<split_sentence> split(const std::string& sentence, const counter_rng& rng, std::uint64_t i) {
  const auto w = words_of(sentence);
  const std::size_t n = 2 + static_cast<std::size_t>(rng.uniform(i) * 3.0);  // 2, 3 or 4
  if (w.size() < n + 2) return std::nullopt;
  split_sentence s;
  for (std::size_t k = 0; k < w.size(); ++k) (k < n ? s.prompt : s.completion) += (k == 0 || k == n ? "" : " ") + w[k];
  s.completion = " " + s.completion;
  return s;
}

/// The data stage: SFT records (review and fluency sentences, each with its gold reward as
/// documentation: no training stage reads it), training and held-out prompts.
void write_task_data(const fs::path& dir, const task_text& text, const task_sizes& sizes, const rlhf::data::vader& gold,
                     std::uint64_t seed) {
  const counter_rng order(seed, rng_stream(rng_purpose::data_order, 101)), cut(seed, rng_stream(rng_purpose::prefix, 102));
  // Review sentences split by sentence into train / held-out (10%, at least 150).
  std::vector<std::size_t> idx(text.reviews.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  for (std::size_t i = idx.size(); i > 1; --i)
    std::swap(idx[i - 1], idx[static_cast<std::size_t>(order.uniform(i) * static_cast<double>(i))]);
  const std::size_t held = std::max<std::size_t>(150, idx.size() / 10);
  RLHF_EXPECTS(idx.size() > held + 100, "pipeline: the corpus has ", idx.size(),
               " review sentences; at least ", held + 101, " are needed (train + held-out prompts)");
  std::vector<json> sft, sft_eval, train_prompts, eval_prompts;
  for (std::size_t j = 0; j < idx.size(); ++j) {
    const auto& review = text.reviews[idx[j]];
    const auto s = review.given ? std::optional<split_sentence>(split_sentence{review.given->first, review.given->second})
                                : split(review.text, cut, idx[j]);
    if (!s) continue;
    const json rec{{"prompt", s->prompt}, {"completion", s->completion},
                   {"gold_reward", gold.polarity_scores(s->prompt + s->completion).compound}};
    if (j < held) {
      sft_eval.push_back(rec);
      eval_prompts.push_back({{"prompt", s->prompt}});
    } else {
      sft.push_back(rec);
      train_prompts.push_back({{"prompt", s->prompt}});
    }
  }
  const std::size_t n_fluency = std::min(sizes.fluency_sentences, text.fluency.size());
  for (std::size_t k = 0; k < n_fluency; ++k)  // spread over the whole corpus (its genres are in file order)
    if (const auto i = k * text.fluency.size() / n_fluency; const auto s = split(text.fluency[i], cut, (1ull << 40) + i))
      sft.push_back({{"prompt", s->prompt}, {"completion", s->completion},
                     {"gold_reward", gold.polarity_scores(s->prompt + s->completion).compound}});
  // File order mixes the two corpora (SFT reads in file order).
  std::vector<json> mixed(sft.size());
  std::vector<std::size_t> perm(sft.size());
  for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
  for (std::size_t i = perm.size(); i > 1; --i)
    std::swap(perm[i - 1], perm[static_cast<std::size_t>(order.uniform((1ull << 40) + i) * static_cast<double>(i))]);
  for (std::size_t i = 0; i < perm.size(); ++i) mixed[i] = sft[perm[i]];
  mixed.resize(std::min(mixed.size(), sizes.sft_records));
  sft_eval.resize(std::min(sft_eval.size(), std::max<std::size_t>(1, sizes.sft_records / 10)));
  rlhf::data::write_jsonl(dir / "sft.jsonl", mixed);
  rlhf::data::write_jsonl(dir / "sft_eval.jsonl", sft_eval);
  train_prompts.resize(std::min(train_prompts.size(), sizes.train_prompts));
  eval_prompts.resize(std::min(eval_prompts.size(), sizes.eval_prompts));
  rlhf::data::write_jsonl(dir / "prompts_train.jsonl", train_prompts);
  rlhf::data::write_jsonl(dir / "prompts_eval.jsonl", eval_prompts);
  std::vector<std::string> corpus;
  for (const auto& r : mixed) corpus.push_back(r["prompt"].get<std::string>() + r["completion"].get<std::string>());
  std::ofstream(dir / "corpus.txt") << [&] {
    std::string all;
    for (const auto& c : corpus) all += c + "\n";
    return all;
  }();
  std::fprintf(stderr, "  %zu SFT records, %zu held-out, %zu training prompts, %zu held-out prompts\n", mixed.size(),
               sft_eval.size(), train_prompts.size(), eval_prompts.size());
}

std::vector<json> read_records(const fs::path& path) {
  std::vector<json> out;
  rlhf::data::for_each_jsonl(path, [&](json rec, const rlhf::data::source_location&) { out.push_back(std::move(rec)); });
  return out;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

/// Preferences as a labeller would give them: for each training prompt, every pair of its π_ref
/// samples whose gold scores differ is labelled by Bradley–Terry noise on the gold (VADER) score,
/// P(a ≻ b) = σ((g_a − g_b)/τ); a pair with equal scores is a tie, which a labeller marks as
/// such and pairwise training skips (InstructGPT drops ties the same way). One prompt in ten
/// holds its pairs out for the reward models' held-out accuracy.
void write_preferences(const fs::path& dir, const std::vector<fs::path>& sample_files, const rlhf::data::vader& gold,
                       std::uint64_t seed) {
  std::vector<std::vector<json>> samples;
  for (const auto& f : sample_files) samples.push_back(read_records(f));
  const counter_rng coin(seed, rng_stream(rng_purpose::data_order, 103));
  constexpr double tau = 0.25;  // gold compound scores lie in [-1, 1]
  std::vector<json> prefs, prefs_eval;
  std::size_t agree = 0, ties = 0, draws = 0;
  for (std::size_t i = 0; i < samples[0].size(); ++i) {
    const std::string p = samples[0][i]["prompt"];
    std::vector<std::string> c;
    std::vector<double> g;
    for (const auto& s : samples) {
      c.push_back(s[i]["completion"].get<std::string>());
      g.push_back(gold.polarity_scores(p + c.back()).compound);
    }
    for (std::size_t x = 0; x < c.size(); ++x)
      for (std::size_t y = x + 1; y < c.size(); ++y) {
        const std::uint64_t draw = draws++;
        if (c[x] == c[y]) continue;
        if (g[x] == g[y]) {
          ++ties;
          continue;
        }
        const bool x_wins = coin.uniform(draw) < sigmoid((g[x] - g[y]) / tau);
        agree += (x_wins == (g[x] > g[y]));
        json rec{{"prompt", p}, {"chosen", x_wins ? c[x] : c[y]}, {"rejected", x_wins ? c[y] : c[x]}};
        (i % 10 == 0 ? prefs_eval : prefs).push_back(std::move(rec));
      }
  }
  rlhf::data::write_jsonl(dir / "prefs.jsonl", prefs);
  rlhf::data::write_jsonl(dir / "prefs_eval.jsonl", prefs_eval);
  std::fprintf(stderr, "  %zu pairs (+%zu held out, %zu ties skipped); labels agree with the gold order on %.1f%%\n",
               prefs.size(), prefs_eval.size(), ties,
               100.0 * static_cast<double>(agree) / std::max<std::size_t>(1, prefs.size() + prefs_eval.size()));
}

// ---- evaluation -----------------------------------------------------------------------------

/// One row of the seed's Table 2.
struct method_row {
  std::string method, llm;
  double gold_mean = 0, gold_se = 0, learned_mean = 0, distinct_2 = 0, nll = 0;
  std::optional<double> kl;
  double lm_calls = 0, rm_calls = 0, seconds = 0, tokens = 0;  ///< calls and tokens per response
  std::size_t n = 0;
};

double mean_of(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return x.empty() ? 0.0 : s / static_cast<double>(x.size());
}
double se_of(const std::vector<double>& x) {
  if (x.size() < 2) return 0.0;
  const double m = mean_of(x);
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(x.size() - 1)) / std::sqrt(static_cast<double>(x.size()));
}

/// Distinct word bigrams over all completions ÷ all bigrams (Li et al. 2016's distinct-2).
double distinct_2(const std::vector<std::string>& texts) {
  std::set<std::pair<std::string, std::string>> seen;
  std::size_t total = 0;
  for (const auto& t : texts) {
    const auto w = words_of(t);
    for (std::size_t i = 1; i < w.size(); ++i, ++total) seen.emplace(w[i - 1], w[i]);
  }
  return total == 0 ? 0.0 : static_cast<double>(seen.size()) / static_cast<double>(total);
}

/// Reads a method's generations and its scored/log-prob files into a table row.
method_row summarise(const std::string& method, const std::string& llm, const fs::path& gen, const fs::path& scored,
                     const fs::path& ref_logprobs, const rlhf::data::vader& gold, bool trained, double wall_seconds) {
  const auto g = read_records(gen), s = read_records(scored), lp = read_records(ref_logprobs);
  method_row row{method, llm};
  std::vector<double> gold_r, learned, kls;
  std::vector<std::string> texts;
  double nll = 0, tokens = 0;
  bool kl_known = true;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const auto& r = g[i];
    const std::string text = r["completion"];
    texts.push_back(text);
    gold_r.push_back(gold.polarity_scores(r["prompt"].get<std::string>() + text).compound);
    learned.push_back(s[i]["reward"].get<double>());
    const auto ref = lp[i]["completion_logprobs"].get<std::vector<double>>();
    for (double x : ref) nll -= x;
    tokens += static_cast<double>(ref.size());
    const auto& st = r["stats"];
    row.lm_calls += st["lm_calls"].get<double>();
    row.rm_calls += st["rm_calls"].get<double>();
    row.tokens += st["new_tokens"].get<double>();
    if (trained) {
      // KL(π ‖ π_ref) estimated on the policy's own samples: Σ_t log π(a_t) − log π_ref(a_t).
      const auto own = r["completion_logprobs"].get<std::vector<double>>();
      double k = 0;
      for (std::size_t t = 0; t < own.size() && t < ref.size(); ++t) k += own[t] - ref[t];
      kls.push_back(k);
    } else if (st["kl_to_ref"].is_number()) {
      kls.push_back(st["kl_to_ref"].get<double>());
    } else {
      kl_known = false;
    }
  }
  row.n = g.size();
  row.gold_mean = mean_of(gold_r);
  row.gold_se = se_of(gold_r);
  row.learned_mean = mean_of(learned);
  if (kl_known) row.kl = mean_of(kls);
  row.distinct_2 = distinct_2(texts);
  row.nll = tokens > 0 ? nll / tokens : 0.0;
  const double n = std::max<double>(1, static_cast<double>(row.n));
  row.lm_calls /= n;
  row.rm_calls /= n;
  row.tokens /= n;
  row.seconds = wall_seconds;
  return row;
}

json row_json(const method_row& r) {
  return {{"method", r.method},
          {"llm", r.llm},
          {"prompts", r.n},
          {"gold_reward_mean", r.gold_mean},
          {"gold_reward_se", r.gold_se},
          {"learned_reward_mean", r.learned_mean},
          {"kl_to_ref", r.kl ? json(*r.kl) : json(nullptr)},
          {"distinct_2", r.distinct_2},
          {"ref_nll", r.nll},
          {"lm_calls", r.lm_calls},
          {"rm_calls", r.rm_calls},
          {"tokens", r.tokens},
          {"seconds", r.seconds}};
}

void print_table(const std::vector<method_row>& rows) {
  std::fprintf(stdout, "\n%-9s %-7s %-16s %-8s %-8s %-7s %-7s %-9s %-9s %-8s\n", "method", "LLM", "gold reward ± SE",
               "learned", "KL", "dist-2", "NLL", "LM calls", "RM calls", "seconds");
  for (const auto& r : rows) {
    char kl[16];
    if (r.kl) std::snprintf(kl, sizeof kl, "%.3f", *r.kl);
    else std::snprintf(kl, sizeof kl, "-");
    std::fprintf(stdout, "%-9s %-7s %6.3f ± %-7.3f %-8.3f %-8s %-7.3f %-7.3f %-9.1f %-9.1f %-8.1f\n", r.method.c_str(),
                 r.llm.c_str(), r.gold_mean, r.gold_se, r.learned_mean, kl, r.distinct_2, r.nll, r.lm_calls, r.rm_calls,
                 r.seconds);
  }
  std::fflush(stdout);
}

void write_csv(const fs::path& path, const std::vector<method_row>& rows) {
  std::ofstream f(path);
  f << "method,llm,prompts,gold_reward_mean,gold_reward_se,learned_reward_mean,kl_to_ref,distinct_2,ref_nll,lm_calls,"
       "rm_calls,seconds\n";
  for (const auto& r : rows)
    f << r.method << ',' << r.llm << ',' << r.n << ',' << r.gold_mean << ',' << r.gold_se << ',' << r.learned_mean << ','
      << (r.kl ? std::to_string(*r.kl) : std::string()) << ',' << r.distinct_2 << ',' << r.nll << ',' << r.lm_calls << ','
      << r.rm_calls << ',' << r.seconds << '\n';
}

/// The pictures, drawn by gnuplot (Debian's gnuplot-nox) from results.csv.
std::vector<fs::path> draw_pictures(const fs::path& out, const std::vector<method_row>& rows) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "rlhf pipeline: gnuplot not found, no pictures (apt-get install gnuplot-nox)\n");
    return {};
  }
  const fs::path dat = out / "results.dat";
  {
    std::ofstream d(dat);
    for (std::size_t i = 0; i < rows.size(); ++i)
      d << i << ' ' << rows[i].method << ' ' << rows[i].gold_mean << ' ' << rows[i].gold_se << ' ' << rows[i].seconds
        << ' ' << (rows[i].kl ? std::to_string(*rows[i].kl) : "NaN") << '\n';
  }
  const std::vector<fs::path> pngs{out / "gold_reward.png", out / "reward_vs_time.png", out / "reward_vs_kl.png"};
  std::ofstream gp(out / "plots.gp");
  gp << "set terminal pngcairo size 900,540 font 'sans,11'\nset datafile missing 'NaN'\nset grid\n"
     << "set output '" << pngs[0].string() << "'\nset title 'Gold reward (VADER) ± SE per method'\n"
     << "set style fill solid 0.6\nset boxwidth 0.6\nset ylabel 'gold reward'\nset xtics rotate by -30\n"
     << "plot '" << dat.string() << "' using 1:3:xtic(2) with boxes notitle, '' using 1:3:4 with yerrorbars lc 'black' pt 0 notitle\n"
     << "set output '" << pngs[1].string() << "'\nset title 'Gold reward against generation time'\nset xtics norotate\n"
     << "set xlabel 'decoding seconds (all evaluated prompts)'\nset logscale x\n"
     << "plot '" << dat.string() << "' using 5:3:4 with yerrorbars pt 7 notitle, '' using 5:3:2 with labels offset 1,1 notitle\n"
     << "unset logscale x\nset output '" << pngs[2].string() << "'\nset title 'Gold reward against KL to the reference'\n"
     << "set xlabel 'KL(π || π_{ref}) per response (nats)'\n"
     << "plot '" << dat.string() << "' using 6:3:4 with yerrorbars pt 7 notitle, '' using 6:3:2 with labels offset 1,1 notitle\n";
  gp.close();
  const std::string cmd = "gnuplot '" + (out / "plots.gp").string() + "' 2>'" + (out / "plots.log").string() + "'";
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "rlhf pipeline: gnuplot failed (see %s), no pictures\n", (out / "plots.log").c_str());
    return {};
  }
  return pngs;
}

/// The fetched task data: the cache made complete (fetching what is missing) and its paths.
struct task_paths {
  fs::path cache, vader_lexicon;
};
task_paths ensure_task_data(const fs::path& cache_opt) {
  const fs::path cache = cache_opt.empty() ? task_sources::default_cache() : cache_opt;
  task_sources::ensure_all(cache, "rlhf pipeline");
  return {cache, task_sources::vader_lexicon(cache)};
}

/// A Brown corpus line ("\tThe/at jury/nn said/vbd ./.") as plain text: tags stripped, the
/// quote marks `` and '' dropped, punctuation attached to the word before it.
std::string brown_sentence(const std::string& line) {
  std::string out;
  std::istringstream in(line);
  for (std::string tok; in >> tok;) {
    const auto slash = tok.rfind('/');
    std::string w = slash == std::string::npos ? tok : tok.substr(0, slash);
    if (w.empty() || w == "``" || w == "''" || w == "`" || w == "'") continue;
    const bool punct = w.find_first_not_of(".,;:?!") == std::string::npos;
    if (!out.empty() && !punct) out += ' ';
    out += w;
  }
  return out;
}

/// The built-in corpus: the 3,000 UCI review sentences (imdb, yelp, amazon) and the Brown
/// corpus's sentences of 5 to 25 words as fluency text.
task_text read_task_text(const task_paths& t) {
  task_text text;
  for (const char* source : {"imdb", "yelp", "amazon"}) {
    const auto path = task_sources::uci_sentences(t.cache, source);
    std::ifstream in(path);
    json all;
    try {
      in >> all;
    } catch (const std::exception& e) {
      RLHF_THROW(io_error, path.string(), ": not the UCI sentence file the sentiment package ships (", e.what(),
                 "); run rlhf fetch --cache ", t.cache.string(), " again");
    }
    for (const auto& r : all) {
      std::string s = r.at("text").get<std::string>();
      while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
      text.reviews.push_back({s, std::nullopt});
    }
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(task_sources::brown_dir(t.cache))) {
    const auto n = e.path().filename().string();
    if (n.size() == 4 && n[0] == 'c' && std::isdigit(static_cast<unsigned char>(n[2]))) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] != '\t') continue;
      auto s = brown_sentence(line);
      const auto n = words_of(s).size();
      if (n >= 5 && n <= 25) text.fluency.push_back(std::move(s));
    }
  }
  RLHF_EXPECTS(!text.fluency.empty(), task_sources::brown_dir(t.cache).string(), ": no Brown corpus sentences found; ",
               "run rlhf fetch --cache ", t.cache.string(), " again");
  return text;
}

}  // namespace

void write_task_files(const fs::path& dir, const fs::path& cache, const fs::path& corpus, const task_sizes& sizes,
                      std::uint64_t seed) {
  const task_paths task = ensure_task_data(cache);
  write_task_data(dir, corpus.empty() ? read_task_text(task) : read_corpus_file(corpus), sizes,
                  rlhf::data::vader(task.vader_lexicon), seed);
}

task_text read_corpus_file(const fs::path& path) {
  task_text t;
  rlhf::data::for_each_jsonl(path, [&](const json& rec, const rlhf::data::source_location& where) {
    const auto str = [&](const char* f) -> const json* {
      const auto it = rec.find(f);
      return it != rec.end() && it->is_string() ? &*it : nullptr;
    };
    if (const auto* text = str("text")) {
      t.reviews.push_back({text->get<std::string>(), std::nullopt});
    } else if (str("prompt") && str("completion")) {
      t.reviews.push_back({{}, std::pair{rec["prompt"].get<std::string>(), rec["completion"].get<std::string>()}});
    } else {
      rlhf::data::fail_at(where, "a --corpus record needs a string field \"text\", or \"prompt\" and \"completion\"");
    }
  });
  return t;
}

void add_pipeline_options(CLI::App& app, pipeline_options& o) {
  describe(app, "The built-in task end to end: fetch -> tokenizer -> SFT -> preferences -> reward models -> DPO, PPO\n"
                "-> every method of the seed's Table 2 on held-out prompts; prints the table, writes results.jsonl,\n"
                "results.csv and PNG pictures under --out. Finished stages are skipped on a rerun.");
  app.add_option("--out", o.out, "output directory (one subdirectory per stage)")->type_name("DIR")->required();
  app.add_option("--prompts", o.prompts, "held-out prompts evaluated per method (default 250; at most all of them)")
      ->type_name("N")->check(range<std::int64_t>(1, 100000));
  app.add_flag("--quick", o.quick, "the small CI run (<= 3 minutes on 2 cores): smaller model, data and budgets");
  app.add_option("--cache", o.cache, "where the fetched task data lives (default $RLHF_CACHE or ~/.cache/rlhf)")
      ->type_name("DIR");
  app.add_option("--corpus", o.corpus, "your own JSONL instead of the built-in corpus: records with text (split into a "
                                       "prompt of its first words and a continuation) or prompt + completion")
      ->type_name("FILE");
  add_seed_option(app, o.seed);
  add_threads_option(app, o.threads);
}

int run_pipeline(const pipeline_options& o) {
  const auto plan = pipeline_plan::make(o.quick);
  const json settings{{"plan", plan.to_json()}, {"seed", o.seed}, {"corpus", o.corpus.string()}, {"prompts", o.prompts}};
  output_directory out_dir(o.out);
  out_dir.keep();
  const fs::path out = o.out;
  const int threads = o.threads;
  stage_runner stages(out, settings,
                      {{"data", 1}, {"tokenizer", 1}, {"sft", 8}, {"prefs", 3}, {"reward", 8}, {"dpo", 3}, {"ppo", 5},
                       {"eval", 8}});
  // Under mpirun the training stages, the sampling and the evaluation's decoding are data-parallel
  // (every process takes part); what writes files — the task's data, the tokenizer, scoring,
  // preferences, the table — runs on rank 0 while the others wait (on_rank0).
  task_paths task;
  on_rank0([&] { task = ensure_task_data(o.cache); });  // fetches at most once
  if (!rlhf::dist::world().is_root()) task = ensure_task_data(o.cache);
  const rlhf::data::vader gold(task.vader_lexicon);

  // 1. data: the review sentences split into prompts and continuations, plus fluency text.
  stages.run("data", [&](const fs::path& dir) {
    on_rank0([&] {
      write_task_data(dir, o.corpus.empty() ? read_task_text(task) : read_corpus_file(o.corpus),
                      {.fluency_sentences = plan.fluency_sentences, .train_prompts = plan.pref_prompts}, gold, o.seed);
    });
  });
  const fs::path data = out / "data";

  // 2. tokenizer: byte-level BPE trained on the SFT corpus.
  stages.run("tokenizer", [&](const fs::path& dir) {
    on_rank0([&] {
      const auto n = train_tokenizer({.corpus = data / "corpus.txt", .out = dir, .vocab_size = static_cast<std::int64_t>(plan.vocab)});
      std::fprintf(stderr, "  %lld tokens in the vocabulary\n", static_cast<long long>(n));
    });
  });

  training_options train;
  train.threads = threads;
  train.seed = o.seed;
  train.log_every = 1000000;
  // 3. sft: π_ref.
  stages.run("sft", [&](const fs::path& dir) {
    on_rank0([&] {
      json cfg{{"n_positions", plan.n_positions}, {"n_embd", plan.n_embd}, {"n_layer", plan.n_layer}, {"n_head", plan.n_head}};
      {
        std::ifstream v(out / "tokenizer" / "vocab.json");
        json vocab;
        v >> vocab;
        cfg["vocab_size"] = vocab.size();
      }
      std::ofstream(dir / "config.json") << cfg.dump();
      run_init({.out = dir / "init", .config = dir / "config.json", .tokenizer = (out / "tokenizer").string(), .seed = o.seed});
    });
    sft_options s{.model = dir / "init", .data = data / "sft.jsonl", .out = dir / "model", .eval_data = data / "sft_eval.jsonl"};
    s.train = train;
    s.train.epochs = plan.sft_epochs;
    s.train.batch_size = 32;
    s.train.lr = 2e-3;
    s.train.warmup = 20;
    s.train.shuffle = true;
    run_sft(s);
  });
  const fs::path ref = out / "sft" / "model";
  // One processor chain for every method: plain sampling, so pi_ref itself has KL 0 and each
  // method's KL is what its guidance or training moved.
  const std::string sampler = "temperature=1";

  // 4. prefs: pref_samples samples of π_ref per training prompt; every non-tied pair labelled by BT noise on the gold reward.
  stages.run("prefs", [&](const fs::path& dir) {
    std::vector<fs::path> files;
    for (int k = 0; k < plan.pref_samples; ++k) {
      generate_options g{.model = ref, .prompts = data / "prompts_train.jsonl", .out = dir / ("samples_" + std::to_string(k) + ".jsonl")};
      g.sampler = "temperature=1";
      g.max_new_tokens = plan.max_new_tokens;
      g.seed = o.seed * 1000 + static_cast<std::uint64_t>(k);
      g.threads = threads;
      g.batch_size = 32;
      run_generate(g);
      files.push_back(g.out);
    }
    on_rank0([&] { write_preferences(dir, files, gold, o.seed); });
  });
  const fs::path prefs = out / "prefs" / "prefs.jsonl", prefs_eval = out / "prefs" / "prefs_eval.jsonl";

  // 5. reward models: sequence (ARGS, CARDS, best-of-N, PPO), prefix (PARGS), token (FaRMA), value (CD).
  stages.run("reward", [&](const fs::path& dir) {
    auto rm = [&](const std::string& kind, const fs::path& d, const fs::path& to) {
      reward_options r{.init = ref, .data = d, .out = to, .eval_data = kind == "value" ? fs::path{} : prefs_eval, .kind = kind};
      r.train = train;
      r.train.epochs = plan.reward_epochs;
      r.train.batch_size = 16;
      r.train.lr = 1e-3;
      r.train.shuffle = true;
      run_reward(r);
    };
    rm("sequence", prefs, dir / "sequence");
    rm("prefix", prefs, dir / "prefix");
    rm("token", prefs, dir / "token");
    // CD-FUDGE: the value of a prefix regresses onto the learned reward of π_ref's completions.
    generate_options g{.model = ref, .prompts = data / "prompts_train.jsonl", .out = dir / "value_samples.jsonl"};
    g.sampler = "temperature=1";
    g.max_new_tokens = plan.max_new_tokens;
    g.seed = o.seed * 1000 + 7;
    g.threads = threads;
    g.batch_size = 32;
    run_generate(g);
    on_rank0([&] {
      run_score({.model = dir / "sequence", .data = dir / "value_samples.jsonl", .out = dir / "value_scored.jsonl", .threads = threads});
    });
    rm("value", dir / "value_scored.jsonl", dir / "value");
  });
  const fs::path rms = out / "reward";

  // 6. dpo and 7. ppo: the trained policies.
  stages.run("dpo", [&](const fs::path& dir) {
    dpo_options d{.policy = ref, .ref = ref, .data = prefs, .eval_data = prefs_eval, .out = dir / "model"};
    d.train = train;
    d.train.epochs = plan.dpo_epochs;
    d.train.batch_size = 16;
    d.train.lr = 5e-4;
    d.train.shuffle = true;
    run_dpo(d);
  });
  stages.run("ppo", [&](const fs::path& dir) {
    ppo_options p;
    p.online = online_options{.policy = ref, .ref = ref, .reward = rms / "sequence", .prompts = data / "prompts_train.jsonl",
                              .out = dir / "model"};
    p.online.sampler = "temperature=1";
    p.online.max_new_tokens = plan.max_new_tokens;
    p.online.kl_coef = 0.05;
    p.online.train = train;
    p.online.train.steps = plan.ppo_steps;
    p.online.train.batch_size = plan.ppo_batch;
    p.online.train.lr = 3e-4;
    run_ppo(p);
  });

  // 8. eval: every method on the held-out prompts.
  struct method {
    std::string name, llm, guide;
    fs::path model, reward;
    std::vector<std::pair<std::string, std::string>> extra;  // informational only
  };
  const std::vector<method> methods{
      {"ref", "frozen", "none", ref, {}},
      {"bon", "frozen", "bon", ref, rms / "sequence"},
      {"args", "frozen", "args", ref, rms / "sequence"},
      {"pargs", "frozen", "pargs", ref, rms / "prefix"},
      {"cd", "frozen", "cd", ref, rms / "value"},
      {"cd-block", "frozen", "cd-block", ref, rms / "value"},
      {"farma", "frozen", "farma", ref, rms / "token"},
      {"cards", "frozen", "cards", ref, rms / "sequence"},
      {"dpo", "trained", "none", out / "dpo" / "model", {}},
      {"ppo", "trained", "none", out / "ppo" / "model", {}},
  };
  std::vector<method_row> rows;
  stages.run("eval", [&](const fs::path& dir) {
    // CARDS's target r*: the 80th percentile of the learned reward of π_ref's own samples.
    std::vector<double> ref_rewards;
    for (const auto& r : read_records(rms / "value_scored.jsonl")) ref_rewards.push_back(r["reward"].get<double>());
    std::sort(ref_rewards.begin(), ref_rewards.end());
    const double target = ref_rewards.empty() ? 0.0 : ref_rewards[ref_rewards.size() * 4 / 5];
    // The evaluation prompts: the first --prompts held-out ones.
    auto eval_prompts = read_records(data / "prompts_eval.jsonl");
    eval_prompts.resize(std::min<std::size_t>(eval_prompts.size(), static_cast<std::size_t>(o.prompts)));
    on_rank0([&] { rlhf::data::write_jsonl(dir / "prompts.jsonl", eval_prompts); });
    std::vector<json> results;
    for (const auto& m : methods) {
      generate_options g{.model = m.model, .prompts = dir / "prompts.jsonl", .out = dir / (m.name + ".jsonl")};
      g.sampler = sampler;
      g.guide = m.guide;
      g.reward = m.reward;
      g.max_new_tokens = plan.max_new_tokens;
      g.seed = o.seed;
      g.threads = threads;
      g.batch_size = 16;
      if (m.guide == "args" || m.guide == "pargs" || m.guide == "cd") g.k = plan.args_k;
      if (m.guide == "bon") g.n = plan.bon_n;
      if (m.guide == "cards") {
        g.segment_min = 2;
        g.segment_max = 8;
        g.entropy_threshold = 2.5;
        g.target_reward = target;
        g.max_rejections = 5;
      }
      // The decoding time of the method (as the seed's Table 2 times generation): loading the
      // models and writing the file are excluded, being the same for every method.
      const double wall = generate_responses(g);
      on_rank0([&] {
        run_score({.model = rms / "sequence", .data = dir / (m.name + ".jsonl"), .out = dir / (m.name + "_scored.jsonl"),
                   .threads = threads});
        run_logprobs({.model = ref, .data = dir / (m.name + ".jsonl"), .out = dir / (m.name + "_ref_logprobs.jsonl"),
                      .threads = threads});
        const auto row = summarise(m.name, m.llm, dir / (m.name + ".jsonl"), dir / (m.name + "_scored.jsonl"),
                                   dir / (m.name + "_ref_logprobs.jsonl"), gold, m.llm == "trained", wall);
        results.push_back(row_json(row));
      });
    }
    on_rank0([&] { rlhf::data::write_jsonl(dir / "results.jsonl", results); });
  });
  if (!rlhf::dist::world().is_root()) return 0;  // the report: rank 0

  // The report (always rewritten from the eval stage's results).
  for (const auto& r : read_records(out / "eval" / "results.jsonl")) {
    method_row m;
    m.method = r["method"];
    m.llm = r["llm"];
    m.n = r["prompts"];
    m.gold_mean = r["gold_reward_mean"];
    m.gold_se = r["gold_reward_se"];
    m.learned_mean = r["learned_reward_mean"];
    if (r["kl_to_ref"].is_number()) m.kl = r["kl_to_ref"].get<double>();
    m.distinct_2 = r["distinct_2"];
    m.nll = r["ref_nll"];
    m.lm_calls = r["lm_calls"];
    m.rm_calls = r["rm_calls"];
    m.tokens = r["tokens"];
    m.seconds = r["seconds"];
    rows.push_back(m);
  }
  std::vector<json> results;
  for (const auto& r : rows) results.push_back(row_json(r));
  rlhf::data::write_jsonl(out / "results.jsonl", results);
  write_csv(out / "results.csv", rows);
  print_table(rows);
  const auto pngs = draw_pictures(out, rows);
  std::fprintf(stderr, "rlhf pipeline: %.1fs; results in %s/results.{jsonl,csv}", stages.elapsed(), out.c_str());
  for (const auto& p : pngs) std::fprintf(stderr, "%s %s", p == pngs.front() ? "; pictures:" : ",", p.c_str());
  std::fprintf(stderr, "\n");
  return 0;
}

}  // namespace rlhf::cli
