// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "rlhf/core/rng.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/io/bpe_trainer.hpp"
#include "rlhf/io/gpt2_tokenizer.hpp"
#include "rlhf/io/load_tokenizer.hpp"
#include "temp_dir.hpp"

using Catch::Matchers::Contains;
namespace io = rlhf::io;

namespace {

// "left right count" per merge, in vocab.json spelling.
std::vector<std::string> merge_list(const io::bpe_model& m) {
  std::vector<std::string> out;
  for (const auto& x : m.merges)
    out.push_back(m.token_text(x.left) + " " + m.token_text(x.right) + " " + std::to_string(x.count));
  return out;
}

io::bpe_trainer_options opts(std::size_t vocab, std::uint64_t min_frequency = 1) {
  io::bpe_trainer_options o;
  o.vocab_size = vocab;
  o.min_frequency = min_frequency;
  return o;
}

// A few hundred sentences of varied text: each is two of these, joined, so words repeat
// across sentences (there is something to learn) but no two sentences are the same.
const std::vector<std::string> base_sentences{
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore, doesn't she?",
    "In 2024 the model was trained on 1,000,000 tokens at 3.5e-4 learning rate.",
    "We'll meet at the café near the old façade; it's a naïve plan.",
    "Grüße aus Köln! Die Straße ist schön, und das Bier ist kühl.",
    "Καλημέρα κόσμε· η γλώσσα είναι ωραία.",
    "Привет, мир! Как дела? Всё хорошо, спасибо.",
    "你好，世界。今天天气很好，我们去公园吧。",
    "日本語のテキストとカタカナ、ひらがなを混ぜます。",
    "한국어 문장도 여기에 있습니다.",
    "Emoji time 🤖🚀🎉 and a thumbs up 👍🏽 for the family 👨‍👩‍👧!",
    "Tabs\tand\nnewlines\n\n  with   odd   spacing   ",
    "def f(x): return x ** 2 + 3 * x - 7  # a comment",
    "{\"key\": \"value\", \"list\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "Reward models score responses; policies maximise reward minus KL.",
    "The reference policy keeps the fine-tuned model close to its start.",
    "Preference pairs hold a chosen and a rejected response for each prompt.",
    "DPO optimises the policy directly from preferences without a reward model.",
    "I can't believe they're already here, you'd think we'd have more time.",
    "Numbers: 3.14159, 2.71828, 1.41421, 42, 1999, 2001, -17, +8.",
    "URLs like https://example.com/path?q=1&r=two#frag appear in web text.",
    "Señor Muñoz visitó la ciudad de São Paulo en el año 1998.",
    "Æble, øl og blåbær er gode ting i Danmark.",
    "¿Dónde está la biblioteca? ¡Está allí!",
    "The mathematician wrote ∑ x² ≤ ∞ and smiled ☺ at the board.",
    "Price: €12.50, £9.99, ¥1200, $15 — cheap!",
    "Quoth the raven, \"Nevermore.\" And so it was, forevermore.",
    "A stitch in time saves nine, but a byte in time saves a token.",
    "mixed\u00a0no-break space and an ideographic\u3000space.",
    "Short one.",
};

std::vector<std::string> sentences() {
  std::vector<std::string> out;
  const std::size_t n = base_sentences.size();
  for (std::size_t i = 0; i < 300; ++i) out.push_back(base_sentences[i % n] + " " + base_sentences[(i * 7 + i / n + 1) % n]);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string random_bytes(std::uint64_t seed, std::size_t n) {
  const rlhf::counter_rng rng(seed, 0);
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(rng.bits(i)[0] & 0xff));
  return s;
}

// About `bytes` bytes of synthetic text with a Zipf-like word distribution over a lexicon of
// syllable words (plus numbers, punctuation and some accented and CJK words).
std::vector<std::string> synthetic_corpus(std::size_t bytes) {
  const rlhf::counter_rng rng(2024, 7);
  std::uint64_t ctr = 0;
  const std::vector<std::string> syllables{"ka", "to", "ri", "en", "the", "an", "or", "is", "mu", "sel", "qua",
                                           "tion", "ing", "er", "pre", "con", "é", "ü", "ñ", "ße", "ly", "st",
                                           "ro", "ba", "li", "de", "na", "ve", "语", "ス"};
  std::vector<std::string> lexicon;
  for (int w = 0; w < 20000; ++w) {
    std::string word;
    const int len = 1 + static_cast<int>(rng.uniform(ctr++) * 4);
    for (int s = 0; s < len; ++s) word += syllables[static_cast<std::size_t>(rng.uniform(ctr++) * static_cast<double>(syllables.size()))];
    lexicon.push_back(word);
  }
  std::vector<std::string> docs;
  std::size_t total = 0;
  while (total < bytes) {
    std::string doc;
    const int n = 8 + static_cast<int>(rng.uniform(ctr++) * 40);
    for (int i = 0; i < n; ++i) {
      if (i) doc += ' ';
      const double u = rng.uniform(ctr++);
      if (u < 0.03) {
        doc += std::to_string(static_cast<int>(rng.uniform(ctr++) * 3000));
      } else {
        const auto r = static_cast<std::size_t>(std::exp(rng.uniform(ctr++) * std::log(20000.0))) - 1;
        doc += lexicon[std::min<std::size_t>(r, lexicon.size() - 1)];
      }
      if (rng.uniform(ctr++) < 0.08) doc += rng.uniform(ctr++) < 0.5 ? "," : ".";
    }
    doc += '\n';
    total += doc.size();
    docs.push_back(std::move(doc));
  }
  return docs;
}


// The textbook algorithm, recounting every pair of every word before each merge (Sennrich et al.
// 2016, Algorithm 1) on spelled tokens, with the same tie rule (std::map order): the reference
// for the trainer's incremental counts.
std::vector<std::string> naive_merges(const std::vector<std::string>& corpus, std::size_t merges) {
  std::map<std::string, std::uint64_t> counts;
  for (const auto& t : corpus)
    for (auto piece : io::gpt2_pretokenize(t)) ++counts[std::string(piece)];
  std::vector<std::pair<std::vector<std::string>, std::uint64_t>> words;
  for (const auto& [w, c] : counts) {
    std::vector<std::string> sym;
    for (char ch : w) sym.push_back(io::bpe_model::spell(std::string(1, ch)));
    words.emplace_back(std::move(sym), c);
  }
  std::vector<std::string> out;
  while (out.size() < merges) {
    std::map<std::pair<std::string, std::string>, std::uint64_t> pairs;
    for (const auto& [sym, c] : words)
      for (std::size_t i = 0; i + 1 < sym.size(); ++i) pairs[{sym[i], sym[i + 1]}] += c;
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second) best = it;  // strictly greater: the first (smallest) pair wins ties
    const auto [a, b] = best->first;
    out.push_back(a + " " + b + " " + std::to_string(best->second));
    for (auto& [sym, c] : words) {
      std::vector<std::string> next;
      for (std::size_t i = 0; i < sym.size();) {
        if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
          next.push_back(a + b);
          i += 2;
        } else {
          next.push_back(sym[i++]);
        }
      }
      sym.swap(next);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("bpe_trainer learns the merges worked out by hand, ties by spelling", "[io][bpe]") {
  using v = std::vector<std::string>;
  // Words hug x2, pug, pun, bun, hugs. Counts: u g 4 (hug 2, pug, hugs); then h ug 3; then u n 2
  // (pun, bun); then four pairs of count 1, taken in order of their spellings:
  // b un < hug s < p ug < p un.
  const std::vector<std::string> corpus{"hug", "hug", "pug", "pun", "bun", "hugs"};
  const auto m = io::train_bpe(corpus, opts(1000));
  CHECK(merge_list(m) == v{"u g 4", "h ug 3", "u n 2", "b un 1", "hug s 1", "p ug 1", "p un 1"});
  CHECK(m.vocab_size() == 256 + 7 + 1);  // nothing left to merge before 1000: every word is one token
  CHECK(m.token_text(256) == "ug");
  CHECK(m.token_text(260) == "hugs");
  CHECK(m.token_text(263) == "<|endoftext|>");
  CHECK(m.special_count == 1);
  // min_frequency stops at the first pair below it; vocab_size stops at the target.
  CHECK(merge_list(io::train_bpe(corpus, opts(1000, 2))) == v{"u g 4", "h ug 3", "u n 2"});
  CHECK(merge_list(io::train_bpe(corpus, opts(256 + 2 + 1))) == v{"u g 4", "h ug 3"});
  CHECK(io::train_bpe(corpus, opts(257)).merges.empty());

  // The tie compares vocab.json spellings: "a" (U+0061) < "Ġ" (U+0120, the space byte 0x20),
  // though the raw bytes order the other way.
  CHECK(merge_list(io::train_bpe({" x", "ax"}, opts(1000))) == v{"a x 1", "Ġ x 1"});
  // Overlapping pairs: "aaaa" holds (a, a) three times and "aaa" twice; merging left to right
  // gives aa aa and aa a; then (aa, a) before (aa, aa) by the right spelling.
  CHECK(merge_list(io::train_bpe({"aaaa", "aaa"}, opts(1000))) == v{"a a 5", "aa a 1", "aa aa 1"});
  // Words are GPT-2 pieces: (a, b) counts in "ab" and " ab", not across "a" "." "b".
  CHECK(merge_list(io::train_bpe({"ab ab", "a.b"}, opts(1000))) == v{"a b 2", "Ġ ab 1"});
}

TEST_CASE("bpe_trainer reproduces the Python reference (tests/data/gpt2_tiny)", "[io][bpe]") {
  // CORPUS and NUM_MERGES of make_tiny_bpe.py, whose rule is the same: most frequent pair, ties
  // by the smaller (left, right) spelling.
  const std::string corpus =
      "the cat sat on the mat. the dog sat on the log.\n"
      "the cat and the dog are friends; they're happy, aren't they?\n"
      "we'll see the cats and the dogs in the morning.\n"
      "it's 2024 and the year 1999 was long ago.\n"
      "hello world, hello there, the world is wide.";
  const auto dir = std::filesystem::path(RLHF_TEST_DATA_DIR) / "gpt2_tiny";
  const auto m = io::train_bpe(std::vector<std::string>{corpus}, opts(256 + 48 + 1));
  CHECK(m.merges.size() == 48);
  CHECK(m.merges_txt() == io::read_file(dir / "merges.txt"));
  CHECK(m.vocab_json() == io::read_file(dir / "vocab.json"));
}

TEST_CASE("the incremental pair counts give the merges of full recounting", "[io][bpe]") {
  // Varied sentences (multilingual, emoji, whitespace runs) and a slice of the synthetic corpus,
  // down to merges of count 1 where ties are everywhere.
  const auto varied = sentences();
  const auto synthetic = synthetic_corpus(20000);
  for (const auto* corpus : {&varied, &synthetic}) {
    const auto m = io::train_bpe(*corpus, opts(256 + 300 + 1));
    CHECK(merge_list(m) == naive_merges(*corpus, m.merges.size()));
  }
}

TEST_CASE("a trained tokenizer saves, loads with gpt2_tokenizer and round-trips every sentence", "[io][bpe]") {
  rlhf::test::temp_dir tmp;
  const auto corpus = sentences();
  REQUIRE(corpus.size() >= 250);
  const std::size_t vocab = 800;
  const auto m = io::train_bpe(corpus, opts(vocab, 2));
  REQUIRE(m.vocab_size() == static_cast<rlhf::index_t>(vocab));
  m.save(tmp / "tok");
  CHECK(tmp.entries() == 1);  // no staging directory left behind
  const io::gpt2_tokenizer tok(tmp / "tok" / "vocab.json", tmp / "tok" / "merges.txt");
  CHECK(tok.vocab_size() == static_cast<rlhf::index_t>(vocab));
  CHECK(tok.merge_count() == m.merges.size());
  CHECK(tok.eos_id() == static_cast<rlhf::token_id>(vocab - 1));
  CHECK(tok.token_text(tok.eos_id()) == "<|endoftext|>");
  CHECK(tok.token_text(0) == "!");    // GPT-2's byte order
  CHECK(tok.token_text(220) == "Ġ");  // the space byte, at its GPT-2 id
  for (rlhf::token_id id = 0; id < tok.vocab_size(); ++id) REQUIRE(tok.token_text(id) == m.token_text(id));
  for (const auto& s : corpus) {
    INFO(s);
    const auto ids = tok.encode(s);
    CHECK(tok.decode(ids) == s);
    CHECK(std::find(ids.begin(), ids.end(), tok.eos_id()) == ids.end());
  }
  for (std::uint64_t seed = 0; seed < 20; ++seed) {  // not text it was trained on, nor UTF-8
    const auto s = random_bytes(seed, 1 + seed * 11);
    CHECK(tok.decode(tok.encode(s)) == s);
  }
  // load_tokenizer finds the pair; bpe_model::tokenizer() is the same tokenizer without files.
  const auto any = io::load_tokenizer(tmp / "tok");
  REQUIRE(any.target<io::gpt2_tokenizer>() != nullptr);
  const auto direct = m.tokenizer();
  for (const auto& s : corpus) {
    CHECK(any.encode(s) == tok.encode(s));
    CHECK(direct.encode(s) == tok.encode(s));
  }

  // Saving again over the directory replaces the pair and keeps the other files there.
  tmp.write("tok/model.safetensors", "weights");
  io::train_bpe(corpus, opts(300, 2)).save(tmp / "tok");
  CHECK(io::gpt2_tokenizer(tmp / "tok" / "vocab.json", tmp / "tok" / "merges.txt").vocab_size() == 300);
  CHECK(io::read_file(tmp / "tok" / "model.safetensors") == "weights");
}

TEST_CASE("a trained tokenizer compresses its corpus and training is deterministic", "[io][bpe]") {
  rlhf::test::temp_dir tmp;
  const auto corpus = sentences();
  const auto m = io::train_bpe(corpus, opts(800, 2));
  const auto tok = m.tokenizer();
  std::size_t bytes = 0, tokens = 0;
  for (const auto& s : corpus) {
    INFO(s);
    const auto n = tok.encode(s).size();
    CHECK(n < s.size());
    bytes += s.size();
    tokens += n;
  }
  CHECK(tokens * 2 < bytes);  // at least two bytes per token on the text it learned from
  WARN("trained 800-token BPE: " << bytes << " bytes -> " << tokens << " tokens ("
                                  << static_cast<double>(bytes) / static_cast<double>(tokens) << " bytes/token)");

  // The same texts give byte-identical files, in any order.
  m.save(tmp / "a");
  io::train_bpe(corpus, opts(800, 2)).save(tmp / "b");
  std::vector<std::string> reversed(corpus.rbegin(), corpus.rend());
  io::train_bpe(reversed, opts(800, 2)).save(tmp / "c");
  for (const char* f : {"vocab.json", "merges.txt"}) {
    INFO(f);
    const std::string a = io::read_file(tmp / "a" / f);
    CHECK(io::read_file(tmp / "b" / f) == a);
    CHECK(io::read_file(tmp / "c" / f) == a);
  }
  CHECK(io::read_file(tmp / "a" / "merges.txt").starts_with("#version: 0.2\n"));

  // The trainer's incremental API counts the same words as train_bpe.
  io::bpe_trainer t(opts(800, 2));
  for (const auto& s : corpus) t.add(s);
  CHECK(t.text_count() == corpus.size());
  CHECK(t.train().merges_txt() == m.merges_txt());
}

TEST_CASE("special tokens come last and never arise from merges", "[io][bpe]") {
  io::bpe_trainer_options o = opts(1000);
  o.special_tokens = {"<|endoftext|>", "ab", "<|pad|>"};
  // (a, b) is the most frequent pair, but its result would spell the special token "ab".
  const auto m = io::train_bpe({"ab ab"}, o);
  CHECK(merge_list(m) == std::vector<std::string>{"Ġ a 1", "Ġa b 1"});
  CHECK(m.vocab_size() == 256 + 2 + 3);
  CHECK(m.special_count == 3);
  CHECK(m.token_text(258) == "<|endoftext|>");
  CHECK(m.token_text(259) == "ab");
  CHECK(m.token_text(260) == "<|pad|>");
  const auto tok = m.tokenizer();
  CHECK(tok.eos_id() == 258);
  CHECK(tok.encode("ab").size() == 2);  // the text "ab" stays bytes
  CHECK(tok.decode(tok.encode("ab ab")) == "ab ab");

  o.special_tokens = {"<|pad|>"};  // no EOS: the files are written but gpt2_tokenizer wants one
  CHECK_THROWS_AS(io::train_bpe({"ab"}, o).tokenizer(), rlhf::format_error);
}

TEST_CASE("bpe_trainer refuses bad input with invalid_argument", "[io][bpe]") {
  const std::vector<std::string> corpus{"some text"};
  CHECK_THROWS_AS(io::train_bpe(corpus, opts(256)), rlhf::invalid_argument);
  CHECK_THROWS_WITH(io::train_bpe(corpus, opts(256)), Contains("vocab_size 256 is too small") && Contains("at least 257"));
  CHECK_THROWS_AS(io::train_bpe(corpus, opts(0)), rlhf::invalid_argument);
  io::bpe_trainer_options three = opts(258);
  three.special_tokens = {"<|endoftext|>", "<|a|>", "<|b|>"};
  CHECK_THROWS_WITH(io::train_bpe(corpus, three), Contains("at least 259"));
  CHECK_THROWS_AS(io::train_bpe(corpus, opts(std::size_t{1} << 40)), rlhf::invalid_argument);

  CHECK_THROWS_AS(io::train_bpe(std::vector<std::string>{}), rlhf::invalid_argument);
  CHECK_THROWS_WITH(io::train_bpe(std::vector<std::string>{}), Contains("corpus is empty"));
  CHECK_THROWS_AS(io::train_bpe(std::vector<std::string>{"", ""}), rlhf::invalid_argument);
  CHECK_THROWS_WITH(io::train_bpe(std::vector<std::string>{"", ""}), Contains("corpus is empty") && Contains("2 texts"));
  CHECK_THROWS_AS(io::bpe_trainer().train(), rlhf::invalid_argument);

  io::bpe_trainer_options bad = opts(1000);
  bad.special_tokens = {""};
  CHECK_THROWS_WITH(io::bpe_trainer(bad), Contains("empty"));
  bad.special_tokens = {"x"};
  CHECK_THROWS_WITH(io::bpe_trainer(bad), Contains("single byte"));
  bad.special_tokens = {"<|endoftext|>", "<|endoftext|>"};
  CHECK_THROWS_WITH(io::bpe_trainer(bad), Contains("given twice"));
  CHECK_THROWS_AS(io::bpe_trainer(bad), rlhf::invalid_argument);

  // A corpus of single characters is valid: nothing to merge, the byte vocabulary plus EOS.
  CHECK(io::train_bpe({"a", "b", "c."}, opts(4096)).vocab_size() == 257);
}

TEST_CASE("bpe_trainer learns 4096 tokens from about 1 MB of text in seconds", "[io][bpe][timing]") {
  const auto corpus = synthetic_corpus(1u << 20);
  std::size_t bytes = 0;
  for (const auto& d : corpus) bytes += d.size();
  const auto t0 = std::chrono::steady_clock::now();
  io::bpe_trainer trainer(opts(4096, 2));
  trainer.add_all(corpus);
  const auto t1 = std::chrono::steady_clock::now();
  const auto m = trainer.train();
  const auto t2 = std::chrono::steady_clock::now();
  const double count_s = std::chrono::duration<double>(t1 - t0).count();
  const double train_s = std::chrono::duration<double>(t2 - t1).count();
  WARN("BPE training on " << bytes << " bytes (" << corpus.size() << " texts, " << trainer.word_count()
                          << " distinct words): pre-tokenise+count " << count_s << " s, " << m.merges.size()
                          << " merges " << train_s << " s");
  CHECK(m.vocab_size() == 4096);
  const auto tok = m.tokenizer();
  std::size_t tokens = 0, sample_bytes = 0;
  for (std::size_t i = 0; i < corpus.size(); i += 97) {
    const auto ids = tok.encode(corpus[i]);
    CHECK(tok.decode(ids) == corpus[i]);
    tokens += ids.size();
    sample_bytes += corpus[i].size();
  }
  CHECK(tokens < sample_bytes);
}
