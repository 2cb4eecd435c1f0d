// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Learning a GPT-2-style byte-level BPE vocabulary from text: BPE of Sennrich et al. 2016
/// ("Neural Machine Translation of Rare Words with Subword Units", Algorithm 1) over GPT-2's
/// byte-level alphabet and pre-tokenisation (Radford et al. 2019, §2.2). The result is the
/// `vocab.json` + `merges.txt` pair that rlhf::io::gpt2_tokenizer (and Hugging Face's GPT-2
/// tokenizers) load.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <limits>
#include <ranges>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/io/gpt2_tokenizer.hpp"
#include "rlhf/io/tokenizer.hpp"

namespace rlhf::io {

/// What train_bpe learns and how much.
struct bpe_trainer_options {
  /// The vocabulary to reach: 256 byte tokens + one token per learned merge + the special
  /// tokens. Must be at least 256 + special_tokens.size(). Training stops earlier when no pair
  /// of at least min_frequency is left.
  std::size_t vocab_size = 4096;
  /// A pair occurring fewer times than this in the corpus (occurrences within repeated words
  /// counted) is never merged; 0 and 1 both mean "merge while any pair is left".
  std::uint64_t min_frequency = 2;
  /// Appended after the merges, in this order, as GPT-2 has `<|endoftext|>` as its last id.
  /// gpt2_tokenizer needs `<|endoftext|>` (its EOS) among them.
  std::vector<std::string> special_tokens{"<|endoftext|>"};
};

/// One learned merge: the tokens `left` and `right` (adjacent in a word) become `result`.
struct bpe_merge {
  token_id left = 0, right = 0, result = 0;
  std::uint64_t count = 0;  ///< occurrences of the pair in the corpus when it was chosen
};

/// A trained byte-level BPE vocabulary: ids 0..255 are the bytes in GPT-2's order (the
/// printable bytes `!`..`~`, `¡`..`¬`, `®`..`ÿ` first, then the others), then one id per
/// merge in the order learned, then the special tokens.
struct bpe_model {
  std::vector<std::string> tokens;  ///< id -> the token's bytes
  std::vector<bpe_merge> merges;    ///< by rank (first learned first)
  std::size_t special_count = 0;    ///< the last special_count ids are the special tokens

  index_t vocab_size() const noexcept { return static_cast<index_t>(tokens.size()); }

  /// The token as vocab.json spells it: each byte through GPT-2's byte-to-unicode table
  /// (" the" -> "Ġthe"). Special tokens are spelled the same way, which for printable ASCII
  /// such as `<|endoftext|>` is the string itself.
  std::string token_text(token_id id) const {
    RLHF_EXPECTS(id >= 0 && id < vocab_size(), "bpe_model::token_text: id ", id, " is outside the vocabulary [0, ",
                 vocab_size(), ")");
    return spell(tokens[static_cast<std::size_t>(id)]);
  }

  /// vocab.json: one JSON object, token spelling -> id, in id order, on one line (as GPT-2's own).
  std::string vocab_json() const {
    std::string out = "{";
    for (std::size_t id = 0; id < tokens.size(); ++id) {
      if (id != 0) out += ", ";
      out += nlohmann::json(spell(tokens[id])).dump();
      out += ": ";
      out += std::to_string(id);
    }
    out += '}';
    return out;
  }

  /// merges.txt: the "#version: 0.2" line, then "left right" per merge by rank.
  std::string merges_txt() const {
    std::string out = "#version: 0.2\n";
    for (const bpe_merge& m : merges) {
      out += spell(tokens[static_cast<std::size_t>(m.left)]);
      out += ' ';
      out += spell(tokens[static_cast<std::size_t>(m.right)]);
      out += '\n';
    }
    return out;
  }

  /// Writes `dir/vocab.json` and `dir/merges.txt` as one step (io::staged_directory): the
  /// directory is prepared beside `dir` and swapped in, so a reader never sees the new
  /// vocab.json with the old merges.txt; other files already in `dir` (weights, configs) are
  /// carried over. rlhf::io_error when the directory cannot be written.
  void save(const std::filesystem::path& dir) const {
    staged_directory stage(dir);
    const std::string vocab = vocab_json(), merge_lines = merges_txt();
    write_atomically(stage.path() / "vocab.json", [&](std::ostream& os) { os << vocab; });
    write_atomically(stage.path() / "merges.txt", [&](std::ostream& os) { os << merge_lines; });
    stage.keep_existing_files();
    stage.commit();
  }

  /// The tokenizer these files define, without a round trip through the file system.
  /// rlhf::format_error when `<|endoftext|>` is not among the special tokens.
  gpt2_tokenizer tokenizer() const { return gpt2_tokenizer(vocab_json(), "vocab.json", merges_txt(), "merges.txt"); }

  /// The vocab.json spelling of a byte string.
  static std::string spell(std::string_view bytes) {
    static const std::array<std::string, 256> table = [] {
      std::array<std::string, 256> t;
      for (std::size_t b = 0; b < 256; ++b) {
        const char32_t cp = gpt2_byte_to_unicode()[b];  // < U+0800: one or two UTF-8 bytes
        if (cp < 0x80) t[b] = std::string(1, static_cast<char>(cp));
        else t[b] = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
      }
      return t;
    }();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) out += table[static_cast<unsigned char>(c)];
    return out;
  }
};

/// Trains a byte-level BPE vocabulary (see the file comment for the papers).
///
/// add() pre-tokenises each text exactly as gpt2_tokenizer does (rlhf::io::gpt2_pretokenize)
/// and counts the distinct pieces ("words"); train() then starts every word as its bytes and
/// repeats: merge the adjacent pair of tokens with the highest count over the corpus
/// (a word seen n times counts n times; "aaa" holds the pair (a, a) twice), at every
/// non-overlapping occurrence from left to right, until the vocabulary reaches
/// options.vocab_size or no pair of count >= min_frequency is left.
///
/// Ties: among pairs of equal count the one whose (left, right) vocab.json spellings are
/// smallest wins, comparing the left spelling first, then the right, by Unicode code point
/// (equivalently by their UTF-8 bytes): of "Ġ x" and "a x", "a x" (U+0061 < U+0120). This
/// is the rule of tests/data/gpt2_tiny/make_tiny_bpe.py, so both produce the same files.
/// Nothing depends on the order texts are added, on hash-map iteration or on threads: the
/// same multiset of texts gives byte-identical files.
///
/// Pair counts are kept up to date incrementally: a merge visits only the words that hold
/// the pair (an index pair -> words) and changes the counts of the pairs around it; the best
/// pair comes from a max-heap whose outdated entries are skipped when popped. A merge whose
/// result spells an existing token reuses that token's id (as Hugging Face's trainer does);
/// a pair whose result would be the bytes of a special token is never merged, so every
/// vocab.json key stays unique.
class bpe_trainer {
 public:
  /// rlhf::invalid_argument when vocab_size < 256 + special tokens or a special token is
  /// empty, one byte long (it would collide with a byte token) or given twice.
  explicit bpe_trainer(bpe_trainer_options options = {}) : options_(std::move(options)) {
    const std::size_t specials = options_.special_tokens.size();
    RLHF_EXPECTS(options_.vocab_size >= 256 + specials, "bpe_trainer: vocab_size ", options_.vocab_size,
                 " is too small: a byte-level vocabulary holds the 256 byte tokens plus ", specials,
                 " special token(s), so vocab_size must be at least ", 256 + specials);
    RLHF_EXPECTS(options_.vocab_size <= static_cast<std::size_t>(std::numeric_limits<token_id>::max()),
                 "bpe_trainer: vocab_size ", options_.vocab_size, " does not fit a token id; ask for at most ",
                 std::numeric_limits<token_id>::max());
    for (std::size_t i = 0; i < specials; ++i) {
      const std::string& s = options_.special_tokens[i];
      RLHF_EXPECTS(s.size() >= 2, "bpe_trainer: special token ", i, " (\"", s, "\") is ",
                   s.empty() ? "empty" : "a single byte, which is already a byte token",
                   "; special tokens are strings such as \"<|endoftext|>\"");
      for (std::size_t j = 0; j < i; ++j)
        RLHF_EXPECTS(options_.special_tokens[j] != s, "bpe_trainer: special token \"", s,
                     "\" is given twice; each needs its own id");
    }
  }

  const bpe_trainer_options& options() const noexcept { return options_; }

  /// Pre-tokenises `text` and counts its pieces. Texts are independent: no piece spans two.
  void add(std::string_view text) {
    ++texts_;
    for (std::string_view piece : gpt2_pretokenize(text)) {
      const auto it = counts_.find(piece);
      if (it != counts_.end()) ++it->second;
      else counts_.emplace(std::string(piece), 1);
    }
  }
  /// add() for each text of a range (std::vector<std::string>, a view of string_views, ...).
  template <std::ranges::input_range R>
    requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>
  void add_all(R&& texts) {
    for (auto&& t : texts) add(std::string_view(t));
  }

  /// Texts added so far, and the distinct pieces among them.
  std::size_t text_count() const noexcept { return texts_; }
  std::size_t word_count() const noexcept { return counts_.size(); }

  /// Learns the merges (see the class comment). rlhf::invalid_argument when no text was
  /// added or all texts were empty.
  bpe_model train() const {
    RLHF_EXPECTS(texts_ > 0, "bpe_trainer: the corpus is empty (no texts); give at least one non-empty text "
                             "to learn merges from");
    RLHF_EXPECTS(!counts_.empty(), "bpe_trainer: the corpus is empty (all ", texts_,
                 " texts are empty strings); give at least one non-empty text to learn merges from");
    return run();
  }

 private:
  using pair_key = std::uint64_t;
  static pair_key key(token_id a, token_id b) noexcept {
    return (static_cast<pair_key>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }
  static token_id left_of(pair_key k) noexcept { return static_cast<token_id>(k >> 32); }
  static token_id right_of(pair_key k) noexcept { return static_cast<token_id>(k & 0xffffffffu); }

  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using word_counts = std::unordered_map<std::string, std::uint64_t, string_hash, std::equal_to<>>;

  bpe_model run() const {
    bpe_model model;
    std::vector<std::string> text;  // id -> vocab.json spelling: what the tie rule compares
    std::unordered_map<std::string, token_id> id_of;  // bytes -> id, for merges that respell a token
    std::array<token_id, 256> byte_id{};
    {
      std::array<int, 256> order{};
      for (int b = 0; b < 256; ++b) order[static_cast<std::size_t>(b)] = b;
      const auto& u = gpt2_byte_to_unicode();
      std::sort(order.begin(), order.end(),
                [&](int x, int y) { return u[static_cast<std::size_t>(x)] < u[static_cast<std::size_t>(y)]; });
      for (int b : order) {
        byte_id[static_cast<std::size_t>(b)] = static_cast<token_id>(model.tokens.size());
        model.tokens.emplace_back(1, static_cast<char>(b));
        text.push_back(bpe_model::spell(model.tokens.back()));
        id_of.emplace(model.tokens.back(), byte_id[static_cast<std::size_t>(b)]);
      }
    }
    std::unordered_set<std::string> special_bytes(options_.special_tokens.begin(), options_.special_tokens.end());

    // Words in byte order, so every loop below runs in an order fixed by the input alone.
    std::vector<const word_counts::value_type*> sorted;
    sorted.reserve(counts_.size());
    for (const auto& wc : counts_) sorted.push_back(&wc);
    std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) { return x->first < y->first; });
    std::vector<std::vector<token_id>> words(sorted.size());
    std::vector<std::uint64_t> freq(sorted.size());
    std::unordered_map<pair_key, std::uint64_t> pair_count;
    std::unordered_map<pair_key, std::vector<std::uint32_t>> where;  // pair -> words that may hold it
    auto note = [&](pair_key k, std::uint32_t w) {
      auto& v = where[k];
      if (v.empty() || v.back() != w) v.push_back(w);
    };
    for (std::size_t w = 0; w < sorted.size(); ++w) {
      freq[w] = sorted[w]->second;
      for (char c : sorted[w]->first) words[w].push_back(byte_id[static_cast<unsigned char>(c)]);
      for (std::size_t i = 0; i + 1 < words[w].size(); ++i) {
        const pair_key k = key(words[w][i], words[w][i + 1]);
        pair_count[k] += freq[w];
        note(k, static_cast<std::uint32_t>(w));
      }
    }

    struct entry {
      std::uint64_t count;
      pair_key pair;
    };
    // Heap order: "x below y" when x has the lower count, or the same count and larger spellings.
    auto below = [&text](const entry& x, const entry& y) {
      if (x.count != y.count) return x.count < y.count;
      const int l = text[static_cast<std::size_t>(left_of(x.pair))].compare(text[static_cast<std::size_t>(left_of(y.pair))]);
      if (l != 0) return l > 0;
      return text[static_cast<std::size_t>(right_of(x.pair))] > text[static_cast<std::size_t>(right_of(y.pair))];
    };
    std::vector<entry> heap;
    heap.reserve(pair_count.size());
    for (const auto& [k, c] : pair_count) heap.push_back({c, k});
    std::make_heap(heap.begin(), heap.end(), below);

    const std::size_t target = options_.vocab_size - options_.special_tokens.size();
    const std::uint64_t min_count = std::max<std::uint64_t>(options_.min_frequency, 1);
    std::unordered_set<pair_key> banned;  // pairs whose result would spell a special token
    std::unordered_map<pair_key, std::int64_t> delta;
    std::vector<token_id> merged;
    while (model.tokens.size() < target && !heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), below);
      const entry best = heap.back();
      heap.pop_back();
      const auto current = pair_count.find(best.pair);
      if (current == pair_count.end() || current->second != best.count) continue;  // outdated entry
      if (best.count < min_count) break;  // the heap's best is below the threshold: so is every pair
      if (banned.contains(best.pair)) continue;
      const token_id a = left_of(best.pair), b = right_of(best.pair);
      std::string bytes = model.tokens[static_cast<std::size_t>(a)] + model.tokens[static_cast<std::size_t>(b)];
      if (special_bytes.contains(bytes)) {
        banned.insert(best.pair);
        continue;
      }
      token_id c;
      if (const auto existing = id_of.find(bytes); existing != id_of.end()) {
        c = existing->second;
      } else {
        c = static_cast<token_id>(model.tokens.size());
        text.push_back(text[static_cast<std::size_t>(a)] + text[static_cast<std::size_t>(b)]);
        id_of.emplace(bytes, c);
        model.tokens.push_back(std::move(bytes));
      }
      model.merges.push_back({a, b, c, best.count});

      // Re-segment the words that hold (a, b); every pair of such a word is taken out of the
      // counts and the pairs of its new segmentation put back, so the change in each count is
      // exact (overlaps such as "a a a" included). Only pairs with c are new to a word.
      auto holders = where.extract(best.pair);
      std::vector<std::uint32_t> ws = holders.empty() ? std::vector<std::uint32_t>{} : std::move(holders.mapped());
      std::sort(ws.begin(), ws.end());
      ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
      delta.clear();
      for (const std::uint32_t w : ws) {
        std::vector<token_id>& s = words[w];
        merged.clear();
        bool hit = false;
        for (std::size_t i = 0; i < s.size();) {
          if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
            merged.push_back(c);
            i += 2;
            hit = true;
          } else {
            merged.push_back(s[i++]);
          }
        }
        if (!hit) continue;  // the index is a superset: this word lost the pair to an earlier merge
        const auto n = static_cast<std::int64_t>(freq[w]);
        for (std::size_t i = 0; i + 1 < s.size(); ++i) delta[key(s[i], s[i + 1])] -= n;
        for (std::size_t i = 0; i + 1 < merged.size(); ++i) {
          const pair_key k = key(merged[i], merged[i + 1]);
          delta[k] += n;
          if (merged[i] == c || merged[i + 1] == c) note(k, w);
        }
        s.swap(merged);
      }
      for (const auto& [k, d] : delta) {
        if (d == 0) continue;
        auto& count = pair_count[k];
        RLHF_ASSERT(d > 0 || count >= static_cast<std::uint64_t>(-d), "bpe_trainer: a pair count went negative");
        count = static_cast<std::uint64_t>(static_cast<std::int64_t>(count) + d);
        if (count == 0) {
          pair_count.erase(k);
        } else {
          heap.push_back({count, k});
          std::push_heap(heap.begin(), heap.end(), below);
        }
      }
      RLHF_ASSERT(!pair_count.contains(best.pair), "bpe_trainer: a merged pair is still counted");
    }

    for (const std::string& s : options_.special_tokens) model.tokens.push_back(s);
    model.special_count = options_.special_tokens.size();
    return model;
  }

  bpe_trainer_options options_;
  word_counts counts_;
  std::size_t texts_ = 0;
};

/// Trains a byte-level BPE vocabulary on `corpus` (a range of strings); see bpe_trainer.
/// rlhf::invalid_argument for a corpus with no text or options bpe_trainer refuses.
template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>
bpe_model train_bpe(R&& corpus, bpe_trainer_options options = {}) {
  bpe_trainer trainer(std::move(options));
  trainer.add_all(std::forward<R>(corpus));
  return trainer.train();
}
inline bpe_model train_bpe(std::initializer_list<std::string_view> corpus, bpe_trainer_options options = {}) {
  bpe_trainer trainer(std::move(options));
  trainer.add_all(corpus);
  return trainer.train();
}

}  // namespace rlhf::io
