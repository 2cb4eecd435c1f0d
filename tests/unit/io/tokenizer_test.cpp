// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "rlhf/core/rng.hpp"
#include "rlhf/io/any_tokenizer.hpp"
#include "rlhf/io/byte_tokenizer.hpp"
#include "rlhf/io/gpt2_tokenizer.hpp"
#include "rlhf/io/load_tokenizer.hpp"
#include "temp_dir.hpp"

using Catch::Matchers::Contains;
namespace io = rlhf::io;
using ids = std::vector<rlhf::token_id>;

namespace {

const std::filesystem::path tiny_dir = std::filesystem::path(RLHF_TEST_DATA_DIR) / "gpt2_tiny";

const io::gpt2_tokenizer& tiny() {
  static const io::gpt2_tokenizer tok(tiny_dir / "vocab.json", tiny_dir / "merges.txt");
  return tok;
}

std::vector<std::string> pieces(std::string_view text) {
  std::vector<std::string> out;
  for (auto p : io::gpt2_pretokenize(text)) out.emplace_back(p);
  return out;
}

std::vector<std::string> token_texts(const io::gpt2_tokenizer& tok, std::string_view text) {
  std::vector<std::string> out;
  for (auto id : tok.encode(text)) out.push_back(tok.token_text(id));
  return out;
}

std::string random_bytes(std::uint64_t seed, std::size_t n) {
  const rlhf::counter_rng rng(seed, 0);
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(rng.bits(i)[0] & 0xff));
  return s;
}

struct not_opted_in {  // has the members but not the tag: must not satisfy the concept
  std::vector<rlhf::token_id> encode(std::string_view) const { return {}; }
  std::string decode(std::span<const rlhf::token_id>) const { return {}; }
  rlhf::index_t vocab_size() const { return 0; }
  rlhf::token_id eos_id() const { return 0; }
  std::string token_text(rlhf::token_id) const { return {}; }
};

const std::vector<std::string> multilingual{
    "Hello, world! It's 2024; they'll say \"hi\" & we'd reply.",
    "Grüße aus Köln — naïve café, façade, œuvre, Ærøskøbing, ½ ¾",
    "Ελληνικά: Καλημέρα κόσμε 123",
    "Русский текст: Привет, мир! Ёлка 42",
    "中文：你好，世界。日本語のテキスト、カタカナ2024年。한국어 문장입니다.",
    "emoji 🤖🚀 and combining e\u0301 a\u0308, tabs\tand\nnewlines\n\n  trailing   ",
    "mixed\u00a0nbsp\u3000ideographic space \u2028line sep",
    "",
    " ",
    "\n\n\n",
}; 

}  // namespace

TEST_CASE("tokenizers model the concept; types without the tag do not", "[io][tokenizer]") {
  STATIC_REQUIRE(rlhf::tokenizer<io::byte_tokenizer>);
  STATIC_REQUIRE(rlhf::tokenizer<io::gpt2_tokenizer>);
  STATIC_REQUIRE(rlhf::tokenizer<io::any_tokenizer>);
  STATIC_REQUIRE_FALSE(rlhf::tokenizer<not_opted_in>);
  STATIC_REQUIRE_FALSE(rlhf::tokenizer<int>);
}

TEST_CASE("byte_tokenizer maps bytes to ids 0..255 and EOS to 256", "[io][tokenizer]") {
  const io::byte_tokenizer tok;
  CHECK(tok.vocab_size() == 257);
  CHECK(tok.eos_id() == 256);
  CHECK(tok.encode("Hi\xff") == ids{72, 105, 255});
  CHECK(tok.decode(ids{72, 105, 256}) == "Hi<|endoftext|>");
  CHECK(tok.token_text(65) == "A");
  CHECK(tok.token_text(10) == "<0x0A>");
  CHECK(tok.token_text(256) == "<|endoftext|>");
  CHECK_THROWS_AS(tok.decode(ids{257}), rlhf::invalid_argument);
  CHECK_THROWS_AS(tok.decode(ids{-1}), rlhf::invalid_argument);
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const auto s = random_bytes(seed, 64);
    CHECK(tok.decode(tok.encode(s)) == s);
  }
}

TEST_CASE("GPT-2 pre-tokenisation follows the encoder.py regex", "[io][tokenizer][gpt2]") {
  using v = std::vector<std::string>;
  CHECK(pieces("Hello world") == v{"Hello", " world"});
  CHECK(pieces("I'm here, they're OK") == v{"I", "'m", " here", ",", " they", "'re", " OK"});
  CHECK(pieces("don't DON'T") == v{"don", "'t", " DON", "'", "T"});  // contractions are case-sensitive
  CHECK(pieces("we'll 've 'd 's") == v{"we", "'ll", " '", "ve", " '", "d", " '", "s"});
  CHECK(pieces("x = 3.14!") == v{"x", " =", " 3", ".", "14", "!"});
  CHECK(pieces("  hi") == v{" ", " hi"});                    // \s+(?!\S) leaves one space for the word
  CHECK(pieces("a\n\nb") == v{"a", "\n", "\n", "b"});
  CHECK(pieces("a \n b") == v{"a", " \n", " b"});
  CHECK(pieces("hello   ") == v{"hello", "   "});            // trailing whitespace stays one piece
  CHECK(pieces("\tx") == v{"\t", "x"});                      // only an ASCII space joins the word
  CHECK(pieces("héllo wörld") == v{"héllo", " wörld"});
  CHECK(pieces("Привет мир") == v{"Привет", " мир"});
  CHECK(pieces("αβγ 123") == v{"αβγ", " 123"});
  CHECK(pieces("日本語2024年") == v{"日本語", "2024", "年"});
  CHECK(pieces("e\u0301!") == v{"e", "\u0301!"});            // a combining mark is not a letter
  CHECK(pieces("ab\xff" "cd") == v{"ab", "\xff", "cd"});      // invalid UTF-8: one "other" unit
  CHECK(pieces("x\u00a0y") == v{"x", "\u00a0", "y"});        // NBSP is whitespace, not a joining space
  CHECK(pieces("").empty());
}

TEST_CASE("gpt2_tokenizer loads the tiny vocabulary", "[io][tokenizer][gpt2]") {
  const auto& tok = tiny();
  CHECK(tok.vocab_size() == 305);  // 256 bytes + 48 merges + EOS
  CHECK(tok.merge_count() == 48);
  CHECK(tok.eos_id() == 304);
  CHECK(tok.token_text(0) == "!");  // GPT-2 order: printable bytes first
  CHECK(tok.token_text(220) == "Ġ");  // the space byte, as in GPT-2's own vocabulary
  CHECK(tok.token_text(304) == "<|endoftext|>");
  CHECK(tok.decode(ids{304}) == "<|endoftext|>");
}

TEST_CASE("gpt2_tokenizer applies merges by rank (encodings worked out by hand)", "[io][tokenizer][gpt2]") {
  using v = std::vector<std::string>;
  const auto& tok = tiny();
  // "the": h e (rank 0) -> t he (1). " cat": a t (3) -> c at (9) -> Ġ cat (13).
  // " sat": a t (3) -> Ġ s (15) -> Ġs at (28).
  CHECK(tok.encode("the cat sat") == ids{257, 269, 284});
  CHECK(token_texts(tok, "the cat sat") == v{"the", "Ġcat", "Ġsat"});
  // "hello": h e (0), l o (5), he l (18), hel lo (19). " world": Ġ w (8), o r (12), l d (21),
  // or ld (23), Ġw orld (30).
  CHECK(tok.encode("hello world") == ids{275, 286});
  // "they're" -> "they" + "'re"; "Ġthe y" does not apply without the space: the + y.
  CHECK(token_texts(tok, "they're") == v{"the", "y", "'re"});
  CHECK(token_texts(tok, " they") == v{"Ġthey"});
  // All non-overlapping occurrences of the best pair merge left to right: 1 9 9 9 -> 1 99 9 ->
  // 199 9 -> 1999, while 9 9 9 -> 99 9 (nothing merges 99 with 9).
  CHECK(token_texts(tok, "1999") == v{"1999"});
  CHECK(token_texts(tok, "999") == v{"99", "9"});
  CHECK(tok.encode("a  b") == ids{64, 220, 220, 65});
  CHECK(token_texts(tok, "zebra") == v{"z", "e", "b", "r", "a"});  // no merge of z,e / e,b / b,r; "r a" absent
  // EOS is never produced from text: the literal string is ordinary characters.
  const auto eos_text = tok.encode("<|endoftext|>");
  CHECK(eos_text.size() > 1);
  CHECK(std::find(eos_text.begin(), eos_text.end(), tok.eos_id()) == eos_text.end());
  CHECK(tok.decode(eos_text) == "<|endoftext|>");
}

TEST_CASE("gpt2_tokenizer round-trips any byte string", "[io][tokenizer][gpt2]") {
  const auto& tok = tiny();
  for (const auto& s : multilingual) {
    INFO(s);
    const auto e = tok.encode(s);
    for (auto id : e) REQUIRE((id >= 0 && id < tok.vocab_size()));
    CHECK(tok.decode(e) == s);
  }
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const auto s = random_bytes(seed, 1 + seed * 7);
    CHECK(tok.decode(tok.encode(s)) == s);
  }
  CHECK_THROWS_AS(tok.decode(ids{305}), rlhf::invalid_argument);
  CHECK_THROWS_AS(tok.decode(ids{-3}), rlhf::invalid_argument);
  CHECK_THROWS_AS(tok.token_text(1000), rlhf::invalid_argument);
}

TEST_CASE("gpt2_tokenizer is safe to share between threads", "[io][tokenizer][gpt2]") {
  const io::gpt2_tokenizer tok(tiny_dir / "vocab.json", tiny_dir / "merges.txt");  // cold cache
  std::vector<ids> want;
  for (const auto& s : multilingual) want.push_back(tiny().encode(s));
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      int good = 1;
      for (int rep = 0; rep < 20; ++rep)
        for (std::size_t i = 0; i < multilingual.size(); ++i) good &= tok.encode(multilingual[i]) == want[i];
      ok[static_cast<std::size_t>(t)] = good;
    });
  for (auto& th : threads) th.join();
  CHECK(ok == std::vector<int>{1, 1, 1, 1});
}

TEST_CASE("malformed vocab.json and merges.txt raise format_error naming the file", "[io][tokenizer][gpt2]") {
  rlhf::test::temp_dir dir;
  const std::string vocab = io::read_file(tiny_dir / "vocab.json");
  const std::string merges = io::read_file(tiny_dir / "merges.txt");
  const auto good_vocab = dir.write("vocab.json", vocab);
  const auto good_merges = dir.write("merges.txt", merges);
  auto load = [&](const std::filesystem::path& v, const std::filesystem::path& m) { return io::gpt2_tokenizer(v, m); };

  SECTION("vocab.json") {
    auto bad = [&](std::string text, const char* phrase) {
      INFO(phrase);
      const auto p = dir.write("bad_vocab.json", text);
      CHECK_THROWS_AS(load(p, good_merges), rlhf::format_error);
      CHECK_THROWS_WITH(load(p, good_merges), Contains("bad_vocab.json") && Contains(phrase));
    };
    bad("{\"a\": 1,", "not valid JSON");
    bad("[1, 2]", "non-empty JSON object");
    bad(R"({"a": "x"})", "non-negative integers");
    bad(R"({"a": -1})", "non-negative integers");
    bad(R"({"a": 0, "b": 0})", "used by both");
    bad(R"({"a": 0})", "no token for byte");
    std::string no_eos = vocab;
    no_eos.replace(no_eos.find("<|endoftext|>"), 13, "<|nothing|>");
    bad(no_eos, "<|endoftext|>");
    std::string foreign = vocab;
    foreign.replace(foreign.find("\"<|endoftext|>\""), 15, "\"\u20ac\"");  // € is not a byte-level character
    bad(foreign, "byte-level alphabet");
  }
  SECTION("vocab.json names the 1-based line of a bad entry") {
    // The tiny vocabulary is one line; each case puts one bad entry on line 3.
    const std::string rest = vocab.substr(1);  // after the opening brace
    auto bad = [&](const std::string& entry, const char* phrase) {
      INFO(entry);
      const auto p = dir.write("lined_vocab.json", "{\n\n" + entry + ",\n" + rest);
      CHECK_THROWS_AS(load(p, good_merges), rlhf::format_error);
      CHECK_THROWS_WITH(load(p, good_merges), Contains("lined_vocab.json:3: ") && Contains(phrase));
    };
    bad(R"("bad": -1)", "non-negative integers");
    bad(R"("bad": "x")", "non-negative integers");
    bad(R"("xx": 0)", "used by both");
    bad("\"\u20ac\": 999", "byte-level alphabet");
    bad(R"("broken" 1)", "not valid JSON");
    // Something missing from the whole file has no line to name.
    CHECK_THROWS_WITH(load(dir.write("one_token.json", "{\n\"a\": 0\n}\n"), good_merges),
                      Contains("one_token.json: no token for byte"));
  }
  SECTION("merges.txt names the line") {
    auto bad = [&](std::string text, const char* phrase) {
      INFO(phrase);
      const auto p = dir.write("bad_merges.txt", text);
      CHECK_THROWS_AS(load(good_vocab, p), rlhf::format_error);
      CHECK_THROWS_WITH(load(good_vocab, p), Contains("bad_merges.txt") && Contains(phrase));
    };
    bad("#version: 0.2\nh e\nt he x\n", "bad_merges.txt:3");
    bad("#version: 0.2\nh e\nthe\n", "bad_merges.txt:3");
    bad("h e\nzz q\n", "bad_merges.txt:2: \"zz\"");
    bad("h e\nz q\n", "result of merge \"z q\"");
  }
  SECTION("missing files are io_error") {
    CHECK_THROWS_AS(load(dir / "nope.json", good_merges), rlhf::io_error);
    CHECK_THROWS_AS(load(good_vocab, dir / "nope.txt"), rlhf::io_error);
  }
  SECTION("CRLF line ends and a blank trailing line are accepted") {
    std::string crlf;
    for (char c : merges) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    const auto p = dir.write("crlf_merges.txt", crlf + "\r\n");
    CHECK(load(good_vocab, p).encode("the cat sat") == ids{257, 269, 284});
  }
}

TEST_CASE("load_tokenizer picks GPT-2 BPE or bytes from the model directory", "[io][tokenizer]") {
  rlhf::test::temp_dir dir;
  const auto t = io::load_tokenizer(tiny_dir);
  REQUIRE(t.target<io::gpt2_tokenizer>() != nullptr);
  CHECK(t.vocab_size() == 305);
  CHECK(t.encode("the cat sat") == ids{257, 269, 284});
  CHECK(t.decode(ids{275, 286}) == "hello world");
  CHECK(t.token_text(269) == "Ġcat");

  const auto b = io::load_tokenizer(dir.path());
  CHECK(b.target<io::byte_tokenizer>() != nullptr);
  CHECK(b.vocab_size() == 257);
  CHECK(b.eos_id() == 256);
  const io::any_tokenizer copy = b;  // value semantics
  CHECK(copy.encode("ab") == ids{97, 98});

  dir.write("vocab.json", io::read_file(tiny_dir / "vocab.json"));
  CHECK_THROWS_AS(io::load_tokenizer(dir.path()), rlhf::format_error);
  CHECK_THROWS_WITH(io::load_tokenizer(dir.path()), Contains("merges.txt"));
  CHECK_THROWS_AS(io::load_tokenizer(dir / "missing_model"), rlhf::io_error);
}
