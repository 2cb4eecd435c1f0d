// SPDX-License-Identifier: MIT
// libFuzzer harness: every JSONL record kind of CLI.md (SFT, preferences, rankings with ties,
// prompts, scored responses) read from arbitrary bytes with the byte tokenizer. Every record a
// loader accepts holds ids inside the vocabulary, and a response is never empty.
#include <cstdint>

#include "fuzz_support.hpp"
#include "rlhf/data/datasets.hpp"
#include "rlhf/io/byte_tokenizer.hpp"

namespace {
void in_vocab(const std::vector<rlhf::token_id>& ids) {
  for (const auto id : ids) rlhf::fuzz::require(id >= 0 && id < 257, "a loaded id is outside the vocabulary");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const rlhf::io::byte_tokenizer tok;
  const auto path = rlhf::fuzz::input_file("data.jsonl", data, size);
  using namespace rlhf::data;
  rlhf::fuzz::expect_rlhf_error_or_success([&] {
    for (const auto& r : load_sft(path, tok)) in_vocab(r.prompt_ids), in_vocab(r.completion_ids);
  });
  rlhf::fuzz::expect_rlhf_error_or_success([&] {
    for (const auto& r : load_preferences(path, tok)) {
      in_vocab(r.prompt_ids), in_vocab(r.chosen_ids), in_vocab(r.rejected_ids);
      rlhf::fuzz::require(!r.chosen_ids.empty() && !r.rejected_ids.empty(), "an empty preference response");
    }
  });
  rlhf::fuzz::expect_rlhf_error_or_success([&] {
    for (const auto& r : load_rankings(path, tok)) {
      in_vocab(r.prompt_ids);
      for (const auto& resp : r.responses_ids) in_vocab(resp), rlhf::fuzz::require(!resp.empty(), "an empty ranked response");
    }
  });
  rlhf::fuzz::expect_rlhf_error_or_success([&] {
    for (const auto& r : load_prompts(path, tok)) in_vocab(r.prompt_ids);
  });
  rlhf::fuzz::expect_rlhf_error_or_success([&] {
    for (const auto& r : load_scored(path, tok)) in_vocab(r.prompt_ids), in_vocab(r.completion_ids);
  });
  return 0;
}
