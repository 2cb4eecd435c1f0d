// SPDX-License-Identifier: MIT
// libFuzzer harness: the GPT-2 tokenizer of tests/data/gpt2_tiny on arbitrary bytes (valid
// UTF-8 or not): the pre-tokenizer's pieces concatenate back to the input, encode gives ids in
// range and never EOS, decode(encode(x)) == x.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "rlhf/io/gpt2_tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const rlhf::io::gpt2_tokenizer tok(RLHF_FUZZ_DATA_DIR "/gpt2_tiny/vocab.json", RLHF_FUZZ_DATA_DIR "/gpt2_tiny/merges.txt");
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string joined;
  for (const auto piece : rlhf::io::gpt2_pretokenize(text)) {
    rlhf::fuzz::require(!piece.empty(), "the pre-tokenizer produced an empty piece");
    joined += piece;
  }
  rlhf::fuzz::require(joined == text, "the pre-tokenizer's pieces do not concatenate to the input");
  rlhf::fuzz::require_round_trip(tok, text);
  return 0;
}
