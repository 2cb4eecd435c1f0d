// SPDX-License-Identifier: MIT
// The VADER port (rlhf/data/vader.hpp) against the npm package vader-sentiment 1.1.3 itself:
// tests/data/vader/reference.js wrote the package's scores of every UCI sentence and of 1,434
// Brown sentences (expected.json, numbers only) and of our own one-rule-each sentences
// (cases.json); the sentences are read here from the cache `rlhf fetch` filled ($RLHF_CACHE,
// else ~/.cache/rlhf; ctest runs task.fetch first). A missing cache fails, never skips.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../../examples/rlhf/task_sources.hpp"
#include "../io/temp_dir.hpp"
#include "rlhf/data/vader.hpp"

using Catch::Matchers::Contains;
namespace sources = rlhf::cli::task_sources;

namespace {

nlohmann::json read_json(const std::filesystem::path& p) { return nlohmann::json::parse(rlhf::io::read_file(p)); }

/// The cache with every file the tests read; FAILs (naming the fix) when it lacks one.
std::filesystem::path fetched_cache() {
  const auto cache = sources::default_cache();
  std::vector<std::filesystem::path> need{sources::vader_lexicon(cache), sources::brown_dir(cache) / "cr09"};
  for (const char* s : {"imdb", "yelp", "amazon"}) need.push_back(sources::uci_sentences(cache, s));
  for (const auto& p : need)
    if (!std::filesystem::is_regular_file(p))
      FAIL("the task's data is not in the cache " << cache.string() << " (no " << p.string()
                                                  << "): run `rlhf fetch --cache " << cache.string()
                                                  << "` (or set RLHF_CACHE to a fetched cache)");
  return cache;
}

/// The sentences reference.js scored for corpus `c` of expected.json, from the cache.
std::vector<std::string> sentences_of(const std::filesystem::path& cache, const nlohmann::json& c) {
  std::vector<std::string> out;
  const std::string name = c.at("name");
  if (name != "brown") {
    for (const auto& r : read_json(sources::uci_sentences(cache, name))) out.push_back(r.at("text").get<std::string>());
    return out;
  }
  // Brown: the non-blank lines of ca01..cr09 in name order, word/tag tokens -> words joined by
  // one space, every `stride`-th sentence from the first (reference.js, same rule).
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(sources::brown_dir(cache))) {
    const std::string f = e.path().filename().string();
    if (f.size() == 4 && f[0] == 'c' && f[1] >= 'a' && f[1] <= 'r' && std::isdigit(static_cast<unsigned char>(f[2])) &&
        std::isdigit(static_cast<unsigned char>(f[3])))
      files.push_back(f);
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() == c.at("files").get<std::size_t>());
  const auto stride = c.at("stride").get<std::size_t>();
  std::size_t k = 0;
  for (const auto& f : files) {
    std::ifstream is(sources::brown_dir(cache) / f, std::ios::binary);
    std::string line;
    while (std::getline(is, line)) {
      std::istringstream tokens(line);
      std::string t, text;
      while (tokens >> t) {
        const auto slash = t.rfind('/');
        text += (text.empty() ? "" : " ") + (slash != std::string::npos && slash > 0 ? t.substr(0, slash) : t);
      }
      if (text.empty()) continue;
      if (k++ % stride == 0) out.push_back(text);
    }
  }
  REQUIRE(k == c.at("sentences").get<std::size_t>());
  return out;
}

struct agreement {
  double max_error = 0.0, max_printed_error = 0.0;
  std::size_t sentences = 0, mismatches = 0;
  std::string first_mismatch;

  void check(const std::string& where, const rlhf::data::vader_scores& got, const nlohmann::json& full,
             const nlohmann::json& printed) {
    ++sentences;
    const auto shown = rlhf::data::vader::printed(got);
    double e = 0.0, ep = 0.0;
    for (auto [ours, ours_printed, key] : {std::tuple{got.compound, shown.compound, "compound"},
                                           std::tuple{got.neg, shown.neg, "neg"}, std::tuple{got.neu, shown.neu, "neu"},
                                           std::tuple{got.pos, shown.pos, "pos"}}) {
      e = std::max(e, std::fabs(ours - full.at(key).get<double>()));
      ep = std::max(ep, std::fabs(ours_printed - printed.at(key).get<double>()));
    }
    max_error = std::max(max_error, e);
    max_printed_error = std::max(max_printed_error, ep);
    if ((e > 1e-6 || ep > 1e-6) && mismatches++ == 0)
      first_mismatch = where + ": ours compound " + std::to_string(got.compound) + " neg " + std::to_string(got.neg) +
                       " neu " + std::to_string(got.neu) + " pos " + std::to_string(got.pos) + ", the package's " +
                       full.dump() + " printed " + printed.dump();
  }
};

}  // namespace

TEST_CASE("vader: the lexicon file is checked line by line", "[task][vader]") {
  rlhf::test::temp_dir dir;
  SECTION("entries, a duplicate (the last wins), CRLF, case-insensitive lookup") {
    const auto p = dir.write("lex.txt", "good\t1.9\t0.9\t[2, 2]\r\nbad\t-2.5\t0.5\t[-2]\ngood\t2.0\t0.1\t[2]\n:)\t2.0\n");
    const rlhf::data::vader v(p);
    CHECK(v.lexicon_size() == 3);
    REQUIRE(v.valence("GOOD") != nullptr);
    CHECK(*v.valence("GOOD") == 2.0);
    CHECK(*v.valence("bad") == -2.5);
    CHECK(v.valence("fine") == nullptr);
    CHECK(v.polarity_scores("").compound == 0.0);
    CHECK(v.polarity_scores("it is good").compound == Approx(2.0 / std::sqrt(4.0 + 15.0)).epsilon(1e-15));
  }
  auto message_of = [&](const std::string& bytes) {
    const auto p = dir.write("bad.txt", bytes);
    try {
      rlhf::data::vader v(p);
    } catch (const rlhf::io_error& e) {
      return std::string(e.what());
    }
    return std::string("no io_error");
  };
  const std::string at = (dir / "bad.txt").string();
  CHECK_THAT(message_of("good\t1.9\nbad -2.5\n"), Contains(at + ":2: no tab after the word"));
  CHECK_THAT(message_of("good\t1.9\t0.9\nbad\tawful\t1\n"), Contains(at + ":2: the mean valence is not a number"));
  CHECK_THAT(message_of("good\t1.9\n\nbad\t-2\n"), Contains(at + ":2: empty line"));
  CHECK_THAT(message_of("\t1.9\n"), Contains(at + ":1: empty word"));
  CHECK_THAT(message_of("good\t\t1\n"), Contains(at + ":1: the mean valence is not a number"));
  CHECK_THAT(message_of("good\t1.9x\n"), Contains(at + ":1: the mean valence is not a number"));
  CHECK_THAT(message_of("good\tnan\n"), Contains(at + ":1: the mean valence is not a number"));
  CHECK_THAT(message_of("good\t9\n"), Contains(at + ":1: the mean valence is outside"));
  CHECK_THAT(message_of(""), Contains("no lexicon entries"));
  CHECK_THAT(message_of("good\t1.9\nbad"), Contains(at + ":2: no tab after the word"));  // a truncated last line
  CHECK_THROWS_WITH(rlhf::data::vader(dir / "missing.txt"),
                    Contains((dir / "missing.txt").string()) && Contains("rlhf fetch"));
  CHECK_THROWS_AS(rlhf::data::vader(dir.path()), rlhf::io_error);
}

TEST_CASE("vader: words are split and stripped as the package does", "[task][vader]") {
  using rlhf::data::detail::vader_rules::words;
  using V = std::vector<std::string>;
  // Whitespace is JavaScript's \s (NBSP, U+3000, the BOM split; a zero-width space does not);
  // pieces of one UTF-16 unit go (an emoji is two); a listed punctuation run at one end goes.
  CHECK(words("good\xC2\xA0" "bad\xE3\x80\x80" "fine\xE2\x80\x8B" "ok") == V{"good", "bad", "fine\xE2\x80\x8B" "ok"});
  CHECK(words("a I \xC3\xA9 \xF0\x9F\x98\x80 ok") == V{"\xF0\x9F\x98\x80", "ok"});
  CHECK(words("Good!! (great) great... 'ok' ok' !?!?wow !?!?!wow") ==
        V{"Good", "(great)", "great...", "'ok'", "ok", "wow", "!?!?!wow"});
  CHECK(words(":) :-( don't 's x. xy.") == V{":)", ":-(", "don't", "'s", "x.", "xy"});
  using rlhf::data::detail::vader_rules::js_lower;
  CHECK(js_lower("K\xE2\x84\xAAIND \xC3\x89T\xC3\x9E \xC3\x97") == "kkind \xC3\xA9t\xC3\xBE \xC3\x97");
}

TEST_CASE("vader: printed() rounds as JavaScript's toFixed", "[task][vader]") {
  using rlhf::data::detail::vader_rules::js_to_fixed;
  CHECK(js_to_fixed(0.44043357076016854, 4) == 0.4404);
  CHECK(js_to_fixed(-0.42146361521, 4) == -0.4215);
  CHECK(js_to_fixed(0.0625, 3) == 0.063);  // an exact tie: toFixed goes up, to_chars would go to even (0.062)
  CHECK(js_to_fixed(-0.03125, 4) == -0.0313);
  CHECK(js_to_fixed(0.5, 3) == 0.5);
  CHECK(js_to_fixed(1.0, 4) == 1.0);
  CHECK(js_to_fixed(0.0, 3) == 0.0);
}

TEST_CASE("vader: every rule, as the package scores our sentences (cases.json)", "[task][vader]") {
  const auto cache = fetched_cache();
  const rlhf::data::vader v(sources::vader_lexicon(cache));
  CHECK(v.lexicon_size() == 7503);  // 7,517 lines, 14 words listed twice
  agreement a;
  for (const auto& c : read_json(std::filesystem::path(RLHF_TEST_DATA_DIR) / "vader" / "cases.json")) {
    const std::string text = c.at("text");
    a.check("\"" + text + "\"", v.polarity_scores(text), c.at("full"), c.at("printed"));
  }
  INFO("first mismatch: " << a.first_mismatch);
  CHECK(a.mismatches == 0);
  CHECK(a.sentences >= 100);
}

TEST_CASE("vader: the package's scores of 4,437 real sentences, within 1e-6", "[task][vader]") {
  const auto cache = fetched_cache();
  const rlhf::data::vader v(sources::vader_lexicon(cache));
  const auto expected = read_json(std::filesystem::path(RLHF_TEST_DATA_DIR) / "vader" / "expected.json");
  REQUIRE(expected.at("package") == sources::vader_sentiment.spec());
  agreement all;
  for (const auto& c : expected.at("corpora")) {
    const auto texts = sentences_of(cache, c);
    const std::string name = c.at("name");
    REQUIRE(texts.size() == c.at("count").get<std::size_t>());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      nlohmann::json full, printed;
      for (const char* k : {"compound", "neg", "neu", "pos"}) {
        full[k] = c.at(k).at(i);
        printed[k] = c.at("printed").at(k).at(i);
      }
      all.check(name + " sentence " + std::to_string(i), v.polarity_scores(texts[i]), full, printed);
    }
  }
  INFO("first mismatch: " << all.first_mismatch);
  CHECK(all.mismatches == 0);
  CHECK(all.sentences >= 4000);
  CHECK(all.max_error <= 1e-6);
  CHECK(all.max_printed_error <= 1e-6);
  std::printf("vader: %zu sentences, max |error| %.3g at full precision, %.3g as printed (4/3 decimals)\n",
              all.sentences, all.max_error, all.max_printed_error);
}
