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
  std::int64_t prompts = 100;  ///< held-out prompts evaluated per method
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

/// A --corpus file: JSONL records with `text`, or with `prompt` + `completion`.
/// @throws rlhf::io_error naming file:line for a record with neither
task_text read_corpus_file(const std::filesystem::path& path);

}  // namespace rlhf::cli
