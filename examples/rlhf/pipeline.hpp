// SPDX-License-Identifier: MIT
#pragma once
// The task text of rlhf pipeline (pipeline.cpp): the review sentences whose first words become
// prompts, and fluency sentences that only the SFT corpus sees.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace rlhf::cli {

/// rlhf pipeline's options (CLI.md).
struct pipeline_options {
  std::filesystem::path out;
  std::int64_t prompts = 250;  ///< held-out prompts evaluated per method (at most: all of them)
  bool quick = false;          ///< the CI-sized run
  std::uint64_t seed = 1;
  int threads = 0;
  std::filesystem::path cache;   ///< fetched task data (default: $RLHF_CACHE or ~/.cache/rlhf)
  std::filesystem::path corpus;  ///< the user's JSONL instead of the built-in corpus
};
void add_pipeline_options(CLI::App& app, pipeline_options& o);
int run_pipeline(const pipeline_options& o);

/// One review: a sentence the pipeline splits into a prompt of its first 2–4 words and the
/// continuation, or (from a --corpus file with prompt + completion) a split given as is.
struct task_review {
  std::string text;
  std::optional<std::pair<std::string, std::string>> given;  ///< prompt, completion
};

struct task_text {
  std::vector<task_review> reviews;  ///< prompts come from these (held-out ones for evaluation)
  std::vector<std::string> fluency;  ///< more SFT text (the Brown corpus)
};

/// How much of the task the data stage writes (every limit defaults to all).
struct task_sizes {
  std::size_t fluency_sentences = 0;  ///< Brown corpus sentences added to sft.jsonl
  std::size_t train_prompts = static_cast<std::size_t>(-1);  ///< prompts_train.jsonl
  std::size_t eval_prompts = static_cast<std::size_t>(-1);   ///< prompts_eval.jsonl (held out)
  std::size_t sft_records = static_cast<std::size_t>(-1);    ///< sft.jsonl (sft_eval.jsonl: a tenth, >= 1)
};

/// The data stage of rlhf pipeline, which rlhf data runs alone: the review sentences (the built-in
/// corpus from `cache`, fetched when missing, or the user's `corpus` file) split by sentence into
/// training and held-out, each cut into a prompt of its first 2–4 words and the continuation.
/// Writes DIR/{sft,sft_eval,prompts_train,prompts_eval}.jsonl and DIR/corpus.txt (the SFT text,
/// for the tokenizer); SFT records carry their VADER `gold_reward` as documentation.
void write_task_files(const std::filesystem::path& dir, const std::filesystem::path& cache,
                      const std::filesystem::path& corpus, const task_sizes& sizes, std::uint64_t seed);

/// A --corpus file: JSONL records with `text`, or with `prompt` + `completion`.
/// @throws rlhf::io_error naming file:line for a record with neither
task_text read_corpus_file(const std::filesystem::path& path);

}  // namespace rlhf::cli
