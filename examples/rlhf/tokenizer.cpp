// SPDX-License-Identifier: MIT
// rlhf tokenizer: trains a byte-level BPE vocabulary on a text corpus (rlhf::io::train_bpe, the
// tokenizer stage of rlhf pipeline) and writes it as GPT-2's vocab.json + merges.txt, which
// `rlhf init --tokenizer DIR` (and Hugging Face's GPT2Tokenizer) load.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <rlhf/io/bpe_trainer.hpp>

#include "cli.hpp"

namespace rlhf::cli {

void add_tokenizer_options(CLI::App& app, tokenizer_options& o) {
  describe(app, "Trains a byte-level BPE vocabulary (GPT-2's pre-tokenizer, byte tokens, merges by pair frequency) on\n"
                "a text file, one text per line (rlhf data writes the task's corpus.txt), and writes DIR/vocab.json and\n"
                "DIR/merges.txt with <|endoftext|> as the last id: the tokenizer of `rlhf init --tokenizer DIR`.");
  app.add_option("--corpus", o.corpus, "text file, one text per line")->type_name("FILE")->required();
  app.add_option("--out", o.out, "directory for vocab.json and merges.txt")->type_name("DIR")->required();
  app.add_option("--vocab-size", o.vocab_size, "256 byte tokens + merges + <|endoftext|> (default 4096)")
      ->type_name("N")->check(range<std::int64_t>(257, 1 << 20));
  app.add_option("--min-frequency", o.min_frequency, "a pair seen fewer times is never merged (default 2)")
      ->type_name("N")->check(range<std::int64_t>(0, 1LL << 40));
}

std::int64_t train_tokenizer(const tokenizer_options& o) {
  std::ifstream in(o.corpus);
  if (!in) throw io_error("--corpus " + o.corpus.string() + ": cannot open the file (give a text file, one text per line)");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(std::move(l));
  if (lines.empty()) throw usage_error("--corpus " + o.corpus.string() + ": no text (every line is empty); give a text file, one text per line");
  const auto model = io::train_bpe(lines, {.vocab_size = static_cast<std::size_t>(o.vocab_size),
                                           .min_frequency = static_cast<std::uint64_t>(o.min_frequency)});
  model.save(o.out);
  return static_cast<std::int64_t>(model.vocab_size());
}

int run_tokenizer(const tokenizer_options& o) {
  output_directory out(o.out);
  const auto n = train_tokenizer(o);
  out.keep();
  std::fprintf(stderr, "rlhf tokenizer: %lld tokens; wrote %s/vocab.json and merges.txt\n", static_cast<long long>(n),
               o.out.c_str());
  return 0;
}

}  // namespace rlhf::cli
