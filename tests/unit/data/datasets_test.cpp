// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "../io/temp_dir.hpp"
#include "rlhf/data/datasets.hpp"
#include "rlhf/data/jsonl.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/io/byte_tokenizer.hpp"
#include "rlhf/io/load_tokenizer.hpp"

using Catch::Matchers::Contains;
namespace data = rlhf::data;
using ids = std::vector<rlhf::token_id>;

namespace {
const rlhf::io::byte_tokenizer bytes_tok;

ids bytes_of(std::string_view s) { return bytes_tok.encode(s); }
ids with_eos(std::string_view s) {
  auto v = bytes_of(s);
  v.push_back(256);
  return v;
}
}  // namespace

TEST_CASE("for_each_jsonl skips blank lines and accepts CRLF and a BOM", "[data][jsonl]") {
  rlhf::test::temp_dir dir;
  const auto p = dir.write("x.jsonl", "\xEF\xBB\xBF{\"a\": 1}\r\n\n   \n{\"a\": 2}\n{\"a\": 3}");
  std::vector<int> seen;
  std::vector<std::size_t> lines;
  const auto n = data::for_each_jsonl(p, [&](const nlohmann::json& r, const data::source_location& w) {
    seen.push_back(r.at("a").get<int>());
    lines.push_back(w.line);
  });
  CHECK(n == 3);
  CHECK(seen == std::vector<int>{1, 2, 3});
  CHECK(lines == std::vector<std::size_t>{1, 4, 5});
}

TEST_CASE("for_each_jsonl names file and line of a malformed record", "[data][jsonl]") {
  rlhf::test::temp_dir dir;
  auto noop = [](const nlohmann::json&, const data::source_location&) {};
  const auto bad_json = dir.write("bad.jsonl", "{\"a\": 1}\n\n{\"a\": \n");
  CHECK_THROWS_AS(data::for_each_jsonl(bad_json, noop), rlhf::format_error);
  CHECK_THROWS_WITH(data::for_each_jsonl(bad_json, noop), Contains("bad.jsonl:3: invalid JSON"));
  const auto not_object = dir.write("arr.jsonl", "[1, 2]\n");
  CHECK_THROWS_WITH(data::for_each_jsonl(not_object, noop), Contains("arr.jsonl:1:") && Contains("object"));
  CHECK_THROWS_AS(data::for_each_jsonl(dir / "missing.jsonl", noop), rlhf::io_error);
}

TEST_CASE("write_jsonl writes one object per line atomically", "[data][jsonl]") {
  rlhf::test::temp_dir dir;
  const auto p = dir / "out.jsonl";
  const std::vector<nlohmann::json> records{{{"prompt", "hi"}, {"reward", 1.5}},
                                            {{"completion", "caf\xc3\xa9 \xff"}, {"ids", {1, 2}}}};
  data::write_jsonl(p, records);
  CHECK(rlhf::io::read_file(p) ==
        "{\"prompt\":\"hi\",\"reward\":1.5}\n{\"completion\":\"caf\xc3\xa9 \xef\xbf\xbd\",\"ids\":[1,2]}\n");
  CHECK(dir.entries() == 1);
}

TEST_CASE("jsonl_writer streams records and commits atomically", "[data][jsonl]") {
  rlhf::test::temp_dir dir;
  const auto p = dir / "gen.jsonl";
  {
    data::jsonl_writer w(p);
    w.write({{"i", 0}});
    w.write({{"i", 1}});
    CHECK(w.size() == 2);
    CHECK_FALSE(std::filesystem::exists(p));
    w.commit();
  }
  std::vector<int> seen;
  data::for_each_jsonl(p, [&](const nlohmann::json& r, const data::source_location&) { seen.push_back(r["i"]); });
  CHECK(seen == std::vector<int>{0, 1});
  {
    data::jsonl_writer w(p);
    w.write({{"i", 9}});
  }  // abandoned: the committed file stays
  CHECK(rlhf::io::read_file(p) == "{\"i\":0}\n{\"i\":1}\n");
  CHECK(dir.entries() == 1);
}

TEST_CASE("load_sft tokenizes text with EOS after the response and keeps ids as given", "[data][datasets]") {
  rlhf::test::temp_dir dir;
  const auto p = dir.write("sft.jsonl",
                           "{\"prompt\": \"Q: 2+2?\", \"completion\": \" 4\"}\n"
                           "{\"prompt_ids\": [1, 2], \"completion_ids\": [3, 256]}\n"
                           "{\"prompt\": \"text\", \"prompt_ids\": [7], \"completion\": \"x\", \"completion_ids\": [9]}\n");
  const auto d = data::load_sft(p, bytes_tok);
  REQUIRE(d.size() == 3);
  CHECK(d[0].prompt_ids == bytes_of("Q: 2+2?"));
  CHECK(d[0].completion_ids == with_eos(" 4"));
  CHECK(d[1].prompt_ids == ids{1, 2});
  CHECK(d[1].completion_ids == ids{3, 256});  // nothing appended to ids
  CHECK(d[2].prompt_ids == ids{7});           // ids win over text
  CHECK(d[2].completion_ids == ids{9});
}

TEST_CASE("dataset loaders work with the GPT-2 tokenizer", "[data][datasets]") {
  rlhf::test::temp_dir dir;
  const auto tok = rlhf::io::load_tokenizer(std::filesystem::path(RLHF_TEST_DATA_DIR) / "gpt2_tiny");
  const auto p = dir.write("pref.jsonl", R"({"prompt": "the cat", "chosen": " sat", "rejected": " world"})");
  const auto d = data::load_preferences(p, tok);
  REQUIRE(d.size() == 1);
  CHECK(d[0].prompt_ids == ids{257, 269});
  CHECK(d[0].chosen_ids == ids{284, tok.eos_id()});
  CHECK(d[0].rejected_ids == ids{286, tok.eos_id()});
  // An id valid for bytes but outside this 305-token vocabulary is rejected.
  const auto q = dir.write("ids.jsonl", R"({"prompt_ids": [305], "chosen_ids": [1], "rejected_ids": [2]})");
  CHECK_THROWS_WITH(data::load_preferences(q, tok), Contains("ids.jsonl:1:") && Contains("[0, 305)"));
}

TEST_CASE("load_rankings reads responses best first and validates ties", "[data][datasets]") {
  rlhf::test::temp_dir dir;
  const auto p = dir.write("rank.jsonl",
                           "{\"prompt\": \"p\", \"responses\": [\"a\", \"bb\", \"c\"], \"ties\": [[1, 2]]}\n"
                           "{\"prompt_ids\": [5], \"responses_ids\": [[1], [2, 3]]}\n");
  const auto d = data::load_rankings(p, bytes_tok);
  REQUIRE(d.size() == 2);
  CHECK(d[0].responses_ids == std::vector<ids>{with_eos("a"), with_eos("bb"), with_eos("c")});
  REQUIRE(d[0].ties.size() == 1);
  CHECK(d[0].ties[0] == std::pair<rlhf::index_t, rlhf::index_t>{1, 2});
  CHECK(d[1].responses_ids == std::vector<ids>{{1}, {2, 3}});
  CHECK(d[1].ties.empty());
  auto bad = [&](const char* line, const char* phrase) {
    INFO(line);
    const auto q = dir.write("bad_rank.jsonl", line);
    CHECK_THROWS_AS(data::load_rankings(q, bytes_tok), rlhf::format_error);
    CHECK_THROWS_WITH(data::load_rankings(q, bytes_tok), Contains("bad_rank.jsonl:1:") && Contains(phrase));
  };
  bad(R"({"prompt": "p", "responses": ["only one"]})", "at least 2 responses");
  bad(R"({"prompt": "p", "responses": ["a", "b"], "ties": [[0, 2]]})", "[0, 2)");
  bad(R"({"prompt": "p", "responses": ["a", "b"], "ties": [[1, 1]]})", "two different");
  bad(R"({"prompt": "p", "responses": ["a", "b"], "ties": [0, 1]})", "[i, j] pair");
  bad(R"({"prompt": "p", "responses": ["a", 3]})", "responses[1]");
  bad(R"({"prompt": "p", "responses_ids": [[1], []]})", "empty responses_ids[1]");
  bad(R"({"prompt": "p"})", "missing field \"responses\"");
}

TEST_CASE("load_prompts keeps the text and load_scored the reward", "[data][datasets]") {
  rlhf::test::temp_dir dir;
  const auto p = dir.write("prompts.jsonl", "{\"prompt\": \"Hi\"}\n{\"prompt_ids\": [79, 75]}\n");
  const auto d = data::load_prompts(p, bytes_tok);
  REQUIRE(d.size() == 2);
  CHECK(d[0].prompt_ids == bytes_of("Hi"));
  CHECK(d[0].prompt_text == "Hi");
  CHECK(d[1].prompt_text == "OK");  // decoded from the ids

  const auto s = dir.write("scored.jsonl",
                           "{\"prompt\": \"a\", \"completion\": \"b\", \"reward\": -1.25}\n"
                           "{\"prompt_ids\": [1], \"completion_ids\": [2], \"reward\": 3}\n");
  const auto e = data::load_scored(s, bytes_tok);
  REQUIRE(e.size() == 2);
  CHECK(e[0].completion_ids == with_eos("b"));
  CHECK(e[0].reward == -1.25);
  CHECK(e[1].reward == 3.0);
  const auto no_reward = dir.write("nr.jsonl", R"({"prompt": "a", "completion": "b"})");
  CHECK_THROWS_WITH(data::load_scored(no_reward, bytes_tok), Contains("nr.jsonl:1: missing field \"reward\""));
  const auto str_reward = dir.write("sr.jsonl", R"({"prompt": "a", "completion": "b", "reward": "high"})");
  CHECK_THROWS_WITH(data::load_scored(str_reward, bytes_tok), Contains("must be a number"));
}

TEST_CASE("malformed records raise format_error FILE:LINE: problem; fix", "[data][datasets]") {
  rlhf::test::temp_dir dir;
  struct bad_case {
    const char* line;
    const char* phrase;
  };
  const std::vector<bad_case> cases{
      {R"({"chosen": "a", "rejected": "b"})", "missing field \"prompt\" (or \"prompt_ids\")"},
      {R"({"prompt": "p", "rejected": "b"})", "missing field \"chosen\" (or \"chosen_ids\")"},
      {R"({"prompt": 5, "chosen": "a", "rejected": "b"})", "field \"prompt\" must be a string"},
      {R"({"prompt": "", "chosen": "a", "rejected": "b"})", "empty prompt"},
      {R"({"prompt_ids": [], "chosen": "a", "rejected": "b"})", "empty prompt"},
      {R"({"prompt_ids": [257], "chosen": "a", "rejected": "b"})", "prompt_ids[0] = 257 is outside the vocabulary"},
      {R"({"prompt_ids": [-1], "chosen": "a", "rejected": "b"})", "prompt_ids[0] = -1 is outside"},
      {R"({"prompt_ids": [1.5], "chosen": "a", "rejected": "b"})", "not an integer token id"},
      {R"({"prompt_ids": "1 2", "chosen": "a", "rejected": "b"})", "must be an array of token ids"},
      {R"({"prompt": "p", "chosen_ids": [], "rejected": "b"})", "empty \"chosen_ids\""},
      {R"({"prompt": "p", "chosen": "a", "rejected_ids": [99999999999]})", "outside the vocabulary"},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    const auto p = dir.write("prefs.jsonl", std::string("{\"prompt\": \"ok\", \"chosen\": \"a\", \"rejected\": \"b\"}\n\n") +
                                                c.line + "\n");
    CHECK_THROWS_AS(data::load_preferences(p, bytes_tok), rlhf::format_error);
    CHECK_THROWS_WITH(data::load_preferences(p, bytes_tok), Contains("prefs.jsonl:3: ") && Contains(c.phrase));
  }
  const auto empty = dir.write("empty.jsonl", "\n\n");
  CHECK_THROWS_WITH(data::load_sft(empty, bytes_tok), Contains("empty.jsonl") && Contains("no records"));
  CHECK_THROWS_AS(data::load_sft(dir / "missing.jsonl", bytes_tok), rlhf::io_error);
}

TEST_CASE("every loader names the 1-based line of a bad record", "[data][datasets]") {
  rlhf::test::temp_dir dir;
  struct loader_case {
    const char* name;
    const char* good;  // line 1 (line 2 is blank)
    const char* bad;   // line 3
    std::function<void(const std::filesystem::path&)> load;
  };
  const std::vector<loader_case> cases{
      {"sft", R"({"prompt": "a", "completion": "b"})", R"({"prompt": "a"})",
       [](const auto& p) { data::load_sft(p, bytes_tok); }},
      {"preferences", R"({"prompt": "a", "chosen": "b", "rejected": "c"})", R"({"prompt": "a", "chosen": "b"})",
       [](const auto& p) { data::load_preferences(p, bytes_tok); }},
      {"rankings", R"({"prompt": "a", "responses": ["b", "c"]})", R"({"prompt": "a", "responses": ["b"]})",
       [](const auto& p) { data::load_rankings(p, bytes_tok); }},
      {"prompts", R"({"prompt": "a"})", R"({"prompt_ids": [999]})",
       [](const auto& p) { data::load_prompts(p, bytes_tok); }},
      {"scored", R"({"prompt": "a", "completion": "b", "reward": 1})",
       R"({"prompt": "a", "completion": "b", "reward": null})",
       [](const auto& p) { data::load_scored(p, bytes_tok); }},
      {"invalid JSON", R"({"prompt": "a"})", R"({"prompt": )", [](const auto& p) { data::load_prompts(p, bytes_tok); }},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const auto p = dir.write(std::string(c.name) + ".jsonl", std::string(c.good) + "\n\n" + c.bad + "\n");
    CHECK_THROWS_AS(c.load(p), rlhf::format_error);
    CHECK_THROWS_WITH(c.load(p), Contains(std::string(c.name) + ".jsonl:3: "));
  }
}

TEST_CASE("for_each_jsonl puts FILE:LINE in front of any error the callback raises", "[data][jsonl]") {
  rlhf::test::temp_dir dir;
  const auto p = dir.write("cb.jsonl", "{\"a\": 1}\n\n{\"a\": \"x\"}\n");
  // A field read as the wrong type (nlohmann::json::type_error) becomes a format_error at the line.
  auto typed = [](const nlohmann::json& r, const data::source_location&) { (void)r.at("a").get<int>(); };
  CHECK_THROWS_AS(data::for_each_jsonl(p, typed), rlhf::format_error);
  CHECK_THROWS_WITH(data::for_each_jsonl(p, typed), Contains("cb.jsonl:3: ") && Contains("type must be number"));
  // An rlhf::error keeps its type and gains the location once.
  auto checks = [](const nlohmann::json& r, const data::source_location&) {
    if (r.at("a").is_string()) RLHF_THROW(rlhf::invalid_argument, "a must be a number");
  };
  CHECK_THROWS_AS(data::for_each_jsonl(p, checks), rlhf::invalid_argument);
  CHECK_THROWS_WITH(data::for_each_jsonl(p, checks), Catch::EndsWith("cb.jsonl:3: a must be a number"));
  auto located = [](const nlohmann::json& r, const data::source_location& w) {
    if (r.at("a").is_string()) data::fail_at(w, "a must be a number");
  };
  std::string message;
  try {
    data::for_each_jsonl(p, located);
  } catch (const rlhf::format_error& e) {
    message = e.what();
  }
  CHECK(message.ends_with("cb.jsonl:3: a must be a number"));
  CHECK(message.find("cb.jsonl:3: ") == message.rfind("cb.jsonl:3: "));  // not prefixed twice
}
