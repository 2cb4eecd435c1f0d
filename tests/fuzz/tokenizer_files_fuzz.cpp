// SPDX-License-Identifier: MIT
// libFuzzer harness: gpt2_tokenizer built from arbitrary vocab.json and merges.txt (the input
// split at its first NUL byte), read from files as a user's are (the size limit first). A
// tokenizer that loads must keep the tokenizer contract on the input's own bytes: encode gives
// ids in [0, vocab_size), never EOS, and decode(encode(x)) == x.
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "rlhf/io/gpt2_tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const auto cut = all.find('\0');
  const std::string_view vocab = all.substr(0, cut), merges = cut == std::string_view::npos ? "" : all.substr(cut + 1);
  const auto vocab_path = rlhf::fuzz::input_file("vocab.json", data, vocab.size());
  const auto merges_path = rlhf::fuzz::input_file(
      "merges.txt", reinterpret_cast<const std::uint8_t*>(merges.data()), merges.size());
  rlhf::fuzz::expect_rlhf_error_or_success([&] {
    const rlhf::io::gpt2_tokenizer tok(vocab_path, merges_path);
    rlhf::fuzz::require_round_trip(tok, all);
  });
  return 0;
}
