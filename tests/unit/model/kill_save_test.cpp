// SPDX-License-Identifier: MIT
// Crash safety, proven by killing: a child process saves a model directory, a tokenizer and a
// results file over and over (each save a new version), and is SIGKILLed at 50 random moments.
// After each kill every target holds one complete version, old or new, that loads: the model's
// weights are exactly those of the version its rlhf.json names (so config, weights and history
// come from one save), the tokenizer's vocab.json and merges.txt are one trained vocabulary, and
// the results file is every line of one version. A kill never leaves a half-written target.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "rlhf/backend.hpp"
#include "rlhf/data/jsonl.hpp"
#include "rlhf/io/bpe_trainer.hpp"
#include "rlhf/io/gpt2_tokenizer.hpp"
#include "rlhf/model/checkpoint.hpp"
#include "rlhf/model/tabular_model.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

using tab = rlhf::tabular_lm<rlhf::backend::eigen>;
// 256 x 256 floats: a 256 KB weights file, so a kill often lands inside a write.
const rlhf::tabular_config config{.vocab_size = 256, .context = rlhf::tabular_context::bandit, .n_contexts = 256,
                                  .init_std = 1.0};

std::uint64_t results_lines(std::uint64_t version) { return version % 50 + 1; }

/// Version `v` of each target: the model of seed v, tokenizer a or b by parity, v % 50 + 1 lines.
void save_version(const fs::path& root, std::uint64_t v, const rlhf::io::bpe_model& a, const rlhf::io::bpe_model& b) {
  const tab m(config, v);
  rlhf::save_model(root / "model", m, rlhf::head_kind::lm, json::array({{{"version", v}}}));
  (v % 2 ? b : a).save(root / "tokenizer");
  rlhf::data::jsonl_writer w(root / "results.jsonl");
  for (std::uint64_t i = 0; i < results_lines(v); ++i) w.write({{"version", v}, {"line", i}});
  w.commit();
}

}  // namespace

TEST_CASE("SIGKILL at 50 random moments while saving: every target holds one whole version", "[model][checkpoint][kill]") {
  const fs::path root = fs::temp_directory_path() / ("rlhf_kill_save_test_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  std::vector<std::string> corpus;
  for (int i = 0; i < 200; ++i) corpus.push_back("the review said the food was good and the service was " + std::to_string(i));
  const auto tok_a = rlhf::io::train_bpe(corpus, {.vocab_size = 300});
  const auto tok_b = rlhf::io::train_bpe(corpus, {.vocab_size = 330});
  REQUIRE(tok_a.vocab_size() != tok_b.vocab_size());
  // The kills land uniformly within four saves' time (measured here, so a slow machine or a
  // sanitizer build aims as well): most after the child's first save, many inside a write.
  // (the slowest of three saves, so a busy machine does not aim the kills too early).
  long save_us = 0;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    save_version(root, 0, tok_a, tok_b);
    save_us = std::max<long>(save_us, std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
  }
  std::mt19937_64 rng(20261202);
  std::uniform_int_distribution<long> delay_us(0, 4 * std::max<long>(save_us, 100));
  std::uint64_t first = 1, newest_seen = 0;
  int killed_mid_run = 0;
  for (int kill = 0; kill < 50; ++kill) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // the child: save new versions until killed; no Catch2 here
      try {
        for (std::uint64_t v = first;; ++v) save_version(root, v, tok_a, tok_b);
      } catch (...) {
        ::_exit(3);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    INFO("kill " << kill);
    REQUIRE(WIFSIGNALED(status));  // not an exit: the child never failed a save
    REQUIRE(WTERMSIG(status) == SIGKILL);

    // The model directory: its history names a version, and the weights are that version's.
    const auto info = rlhf::read_model_info(root / "model");
    const std::uint64_t v = info.history.at(0).at("version").get<std::uint64_t>();
    tab loaded(rlhf::read_tabular_config(root / "model"));
    rlhf::load_parameters(root / "model", loaded);
    const tab want(config, v);
    const auto lt = loaded.logits_table(), wt = want.logits_table();
    REQUIRE(std::memcmp(lt.data(), wt.data(), lt.size() * sizeof(float)) == 0);
    newest_seen = std::max(newest_seen, v);
    if (v >= first) ++killed_mid_run;

    // The tokenizer: vocab.json and merges.txt of one vocabulary, and it loads.
    const rlhf::io::gpt2_tokenizer t(root / "tokenizer" / "vocab.json", root / "tokenizer" / "merges.txt");
    REQUIRE((t.vocab_size() == tok_a.vocab_size() || t.vocab_size() == tok_b.vocab_size()));
    const auto& same = t.vocab_size() == tok_a.vocab_size() ? tok_a : tok_b;
    REQUIRE(t.encode(corpus[7]) == same.tokenizer().encode(corpus[7]));

    // The results file: every line of one version.
    std::vector<json> lines;
    rlhf::data::for_each_jsonl(root / "results.jsonl", [&](const json& r, const auto&) { lines.push_back(r); });
    REQUIRE(!lines.empty());
    const auto rv = lines.front().at("version").get<std::uint64_t>();
    REQUIRE(lines.size() == results_lines(rv));
    for (std::size_t i = 0; i < lines.size(); ++i) {
      REQUIRE(lines[i].at("version").get<std::uint64_t>() == rv);
      REQUIRE(lines[i].at("line").get<std::uint64_t>() == i);
    }
    first = std::max({v, rv}) + 1000;  // the next child's versions are new
  }
  std::printf("kill_save_test: 50 kills, %d after the child's first save; one save takes %ld us\n", killed_mid_run,
              static_cast<long>(save_us));
  // The kills landed among the saves, not all before the first one.
  CHECK(killed_mid_run >= 25);
  CHECK(newest_seen > 0);
  std::error_code ec;
  fs::remove_all(root, ec);
}
