// SPDX-License-Identifier: MIT
// rlhf data: writes the built-in task's data files — rlhf pipeline's data stage on its own
// (pipeline.hpp): real review sentences, fetched by package name, cut into prompts and
// continuations, with VADER's gold reward beside each SFT record.
#include <cstdio>
#include <limits>

#include "cli.hpp"
#include "pipeline.hpp"

namespace rlhf::cli {

void add_data_options(CLI::App& app, data_options& o) {
  describe(app, "Writes the built-in task: the UCI review sentences (and Brown corpus sentences for fluency), split by\n"
                "sentence into training and held-out and cut into a prompt of the first 2-4 words and the continuation\n"
                "(the data stage of rlhf pipeline). SFT records carry their gold reward (VADER) as documentation.");
  app.add_option("--out", o.out, "directory for sft.jsonl, sft_eval.jsonl, prompts_train.jsonl, prompts_eval.jsonl, corpus.txt")
      ->type_name("DIR")->required();
  app.add_option("--cache", o.cache, "where the fetched task data lives (default $RLHF_CACHE or ~/.cache/rlhf)")->type_name("DIR");
  app.add_option("--corpus", o.corpus, "your own JSONL instead of the built-in corpus: records with text, or prompt + completion")
      ->type_name("FILE");
  app.add_option("--records", o.records, "SFT records at most (0 = all)")->type_name("N")->check(range<std::int64_t>(0, 10'000'000));
  app.add_option("--prompts", o.prompts, "training and held-out prompts at most, each (0 = all)")
      ->type_name("N")->check(range<std::int64_t>(0, 10'000'000));
  app.add_option("--fluency", o.fluency, "Brown corpus sentences added to the SFT records")
      ->type_name("N")->check(range<std::int64_t>(0, 10'000'000));
  add_seed_option(app, o.seed);
}

int run_data(const data_options& o) {
  const auto all = std::numeric_limits<std::size_t>::max();
  const auto limit = [&](std::int64_t n) { return n == 0 ? all : static_cast<std::size_t>(n); };
  output_directory out(o.out);
  write_task_files(o.out, o.cache, o.corpus,
                   {.fluency_sentences = static_cast<std::size_t>(o.fluency), .train_prompts = limit(o.prompts),
                    .eval_prompts = limit(o.prompts), .sft_records = limit(o.records)},
                   o.seed);
  out.keep();
  std::fprintf(stderr, "rlhf data: wrote %s/{sft,sft_eval,prompts_train,prompts_eval}.jsonl and corpus.txt\n", o.out.c_str());
  return 0;
}

}  // namespace rlhf::cli
