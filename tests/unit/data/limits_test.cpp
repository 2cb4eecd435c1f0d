// SPDX-License-Identifier: MIT
// The readers' resource limits (core/limits.hpp): a JSONL line of 1 GiB, JSON nested 10^5 deep,
// a tokenizer file of 2 GiB (a vocabulary of ~10^8 entries), each refused with a format_error
// naming the input and the variable that raises the limit, before anything of that size is
// allocated; the limits read from the environment, and a nonsense value refused by name.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "rlhf/core/limits.hpp"
#include "rlhf/data/jsonl.hpp"
#include "rlhf/io/gpt2_tokenizer.hpp"
#include "rlhf/model/checkpoint.hpp"
#include "../io/temp_dir.hpp"

using Catch::Matchers::Contains;

namespace {
auto noop = [](const nlohmann::json&, const rlhf::data::source_location&) {};

/// Sets an environment variable for one scope.
struct scoped_env {
  const char* name;
  scoped_env(const char* n, const char* v) : name(n) { ::setenv(n, v, 1); }
  ~scoped_env() { ::unsetenv(name); }
};
}  // namespace

TEST_CASE("json_depth counts nesting outside strings", "[core][limits]") {
  using rlhf::limits::json_depth;
  CHECK(json_depth("{}", 10) == 1);
  CHECK(json_depth(R"({"a": [1, {"b": [2]}]})", 10) == 4);
  CHECK(json_depth(R"({"a": "[[[[{{{{", "b": "\"[["})", 10) == 1);  // brackets inside strings, escaped quotes
  CHECK(json_depth("[1, 2] [3]", 10) == 1);
  CHECK(json_depth(std::string(100000, '['), 300) == 301);  // stops counting past the limit
}

TEST_CASE("limits come from the environment; nonsense values are refused by name", "[core][limits]") {
  CHECK(rlhf::limits::max_jsonl_line() == (std::uint64_t{64} << 20));
  {
    scoped_env e("RLHF_MAX_JSONL_LINE", "1000");
    CHECK(rlhf::limits::max_jsonl_line() == 1000);
  }
  for (const char* bad : {"-5", "0", "12x", "lots", "99999999999999999999999"}) {
    scoped_env e("RLHF_MAX_JSON_DEPTH", bad);
    CHECK_THROWS_AS(rlhf::limits::max_json_depth(), rlhf::invalid_argument);
    CHECK_THROWS_WITH(rlhf::limits::max_json_depth(), Contains("RLHF_MAX_JSON_DEPTH") && Contains("positive integer"));
  }
}

TEST_CASE("a JSONL line of 1 GiB is refused at the limit, naming the line", "[data][jsonl][limits]") {
  rlhf::test::temp_dir dir;
  const auto ok = dir.write("ok.jsonl", "{\"a\": 1}\n{\"a\": 2}\n");
  const auto huge = dir.write("huge.jsonl", "{\"a\": 1}\n");
  std::filesystem::resize_file(huge, std::uintmax_t{1} << 30);  // sparse: line 2 is 1 GiB of NUL bytes
  CHECK_THROWS_AS(rlhf::data::for_each_jsonl(huge, noop), rlhf::format_error);
  CHECK_THROWS_WITH(rlhf::data::for_each_jsonl(huge, noop),
                    Contains("huge.jsonl:2:") && Contains("longer than 67108864 bytes") && Contains("RLHF_MAX_JSONL_LINE"));
  scoped_env e("RLHF_MAX_JSONL_LINE", "8");  // a line of exactly the limit passes, one more byte fails
  CHECK(rlhf::data::for_each_jsonl(ok, noop) == 2);
  const auto nine = dir.write("nine.jsonl", "{\"a\": 1}\n{\"a\": 12}\n");
  CHECK_THROWS_WITH(rlhf::data::for_each_jsonl(nine, noop), Contains("nine.jsonl:2:") && Contains("longer than 8 bytes"));
}

TEST_CASE("JSON nested 10^5 deep is refused before parsing, in JSONL and config.json", "[data][jsonl][limits]") {
  rlhf::test::temp_dir dir;
  const std::string deep = "{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  const auto p = dir.write("deep.jsonl", "{\"a\": 1}\n" + deep + "\n");
  CHECK_THROWS_AS(rlhf::data::for_each_jsonl(p, noop), rlhf::format_error);
  CHECK_THROWS_WITH(rlhf::data::for_each_jsonl(p, noop),
                    Contains("deep.jsonl:2:") && Contains("deeper than 256 levels") && Contains("RLHF_MAX_JSON_DEPTH"));
  const auto cfg = dir.write("config.json", deep);
  CHECK_THROWS_AS(rlhf::read_gpt2_config(cfg.parent_path()), rlhf::format_error);
  CHECK_THROWS_WITH(rlhf::read_gpt2_config(cfg.parent_path()), Contains("config.json") && Contains("deeper than 256 levels"));
  const auto fine = dir.write("fine.jsonl", "{\"a\": [[[[1]]]]}\n");
  CHECK(rlhf::data::for_each_jsonl(fine, noop) == 1);
}

TEST_CASE("a 2 GiB vocab.json is refused by its size before it is read", "[io][tokenizer][limits]") {
  rlhf::test::temp_dir dir;
  const auto vocab = dir.write("vocab.json", "{\"a\": 0}");
  const auto merges = dir.write("merges.txt", "#version: 0.2\n");
  std::filesystem::resize_file(vocab, std::uintmax_t{2} << 30);
  CHECK_THROWS_AS(rlhf::io::gpt2_tokenizer(vocab, merges), rlhf::format_error);
  CHECK_THROWS_WITH(rlhf::io::gpt2_tokenizer(vocab, merges),
                    Contains("vocab.json") && Contains("2147483648 bytes") && Contains("RLHF_MAX_TOKENIZER_FILE"));
}

TEST_CASE("a vocab.json id beyond RLHF_MAX_VOCAB is refused before its table is sized", "[io][tokenizer][limits]") {
  // The fuzzer's finding (tests/fuzz, tokenizer_files): an id of ~10^8 sized three tables to it (an
  // 850 MB allocation). Ids may leave holes, so the bound is on the largest id.
  const std::string oom = rlhf::io::read_file(RLHF_TEST_DATA_DIR "/fuzz_regressions/tokenizer_files/oom-9cf8815ee05d");
  const auto cut = oom.find('\0');
  const std::string merges = cut == std::string::npos ? std::string() : oom.substr(cut + 1);
  CHECK_THROWS_AS(rlhf::io::gpt2_tokenizer(oom.substr(0, cut), "vocab.json", merges, "merges.txt"), rlhf::format_error);
  CHECK_THROWS_WITH(rlhf::io::gpt2_tokenizer("{\"a\": 0, \"b\": 100000000}", "vocab.json", "", "merges.txt"),
                    Contains("vocab.json") && Contains("id 100000000") && Contains("RLHF_MAX_VOCAB"));
}
