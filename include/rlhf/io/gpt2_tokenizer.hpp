// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// GPT-2's byte-level BPE tokenizer (Radford et al. 2019, "Language Models are Unsupervised
/// Multitask Learners", §2.2; Sennrich et al. 2016 for BPE), read from the Hugging Face
/// `vocab.json` + `merges.txt` pair, so a user's GPT-2 / distilgpt2 tokenizer files load as
/// they are.
#include <array>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/core/limits.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/io/detail/json_location.hpp"
#include "rlhf/io/detail/unicode.hpp"
#include "rlhf/io/tokenizer.hpp"

namespace rlhf::io {

/// GPT-2's pre-tokenisation: splits `text` into the pieces the regex of GPT-2's encoder.py
///   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
/// matches, implemented by hand (std::regex has no Unicode classes). The pieces concatenate
/// back to `text` exactly; bytes that are not valid UTF-8 count as "other" (punctuation-like).
inline std::vector<std::string_view> gpt2_pretokenize(std::string_view text) {
  using detail::char_class;
  struct unit {
    std::size_t begin;
    char32_t cp;
    char_class cls;
  };
  std::vector<unit> u;
  u.reserve(text.size() + 1);
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp;
    const std::size_t len = detail::decode_utf8(text, i, cp);
    u.push_back({i, cp, detail::classify(cp)});
    i += len;
  }
  const std::size_t n = u.size();
  u.push_back({text.size(), 0, char_class::other});  // sentinel: begin of "one past the end"
  auto cls = [&](std::size_t k) { return k < n ? u[k].cls : char_class::space; };
  auto is = [&](std::size_t k, char32_t c) { return k < n && u[k].cp == c; };
  auto run = [&](std::size_t k, char_class c) {
    while (k < n && u[k].cls == c) ++k;
    return k;
  };

  std::vector<std::string_view> pieces;
  std::size_t k = 0;
  while (k < n) {
    std::size_t end = k;
    if (is(k, '\'') && (is(k + 1, 's') || is(k + 1, 't') || is(k + 1, 'm') || is(k + 1, 'd'))) {
      end = k + 2;
    } else if (is(k, '\'') && ((is(k + 1, 'r') && is(k + 2, 'e')) || (is(k + 1, 'v') && is(k + 2, 'e')) ||
                               (is(k + 1, 'l') && is(k + 2, 'l')))) {
      end = k + 3;
    } else {
      // " ?X+" for X in {letter, number, other}: an optional single ASCII space, then a run.
      const std::size_t s = is(k, ' ') && k + 1 < n && cls(k + 1) != char_class::space ? k + 1 : k;
      const char_class c = cls(s);
      if (c != char_class::space) {
        end = run(s, c);
      } else {
        // \s+(?!\S): the whitespace run, minus its last character when a non-space follows
        // (that character then prefixes the next word); a run of one falls through to \s+.
        const std::size_t j = run(k, char_class::space);
        end = (j < n && j - k > 1) ? j - 1 : j;
      }
    }
    pieces.push_back(text.substr(u[k].begin, u[end].begin - u[k].begin));
    k = end;
  }
  return pieces;
}

/// GPT-2 byte-to-unicode table: the printable bytes map to themselves, the other 68 bytes to
/// U+0100.. in byte order, so every token of vocab.json is printable text.
inline const std::array<char32_t, 256>& gpt2_byte_to_unicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

/// Byte-level BPE tokenizer of GPT-2: GPT-2 pre-tokenisation, then BPE within each piece by
/// merge rank (lowest first, all non-overlapping occurrences left to right, as encoder.py),
/// with a cache of encoded pieces. `<|endoftext|>` is EOS; ordinary text containing that
/// string encodes as text (never as EOS), so data cannot inject an end of sequence.
/// Copies share the (immutable) tables and the (locked) cache; all members are thread-safe.
class gpt2_tokenizer {
 public:
  using rlhf_concept = tokenizer_tag;

  /// Loads `vocab.json` (token string -> id) and `merges.txt` ("a b" per line, by rank;
  /// an optional "#version" first line). rlhf::io_error when a file is missing;
  /// rlhf::format_error "FILE:LINE: problem; fix" when malformed (1-based lines; "FILE: ..."
  /// alone when what is wrong is something missing from the whole file).
  gpt2_tokenizer(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt)
      : gpt2_tokenizer(read_bounded(vocab_json), vocab_json.string(), read_bounded(merges_txt), merges_txt.string()) {}

  /// The same from the files' contents; the names are used in error messages.
  gpt2_tokenizer(std::string_view vocab_json_text, std::string vocab_name, std::string_view merges_text,
                 std::string merges_name)
      : tables_(std::make_shared<tables>()), cache_(std::make_shared<cache>()) {
    load_vocab(vocab_json_text, vocab_name);
    load_merges(merges_text, merges_name);
  }

  std::vector<token_id> encode(std::string_view text) const {
    std::vector<token_id> ids;
    for (std::string_view piece : gpt2_pretokenize(text)) encode_piece(piece, ids);
    return ids;
  }
  /// Concatenated bytes of the tokens; rlhf::invalid_argument for an id not in the vocabulary.
  std::string decode(std::span<const token_id> ids) const {
    std::string out;
    for (token_id id : ids) out += tables_->bytes[static_cast<std::size_t>(check(id))];
    return out;
  }
  index_t vocab_size() const noexcept { return static_cast<index_t>(tables_->bytes.size()); }
  token_id eos_id() const noexcept { return tables_->eos; }
  /// The token as written in vocab.json (byte-level alphabet, e.g. "Ġthe" for " the").
  std::string token_text(token_id id) const { return tables_->text[static_cast<std::size_t>(check(id))]; }
  /// Number of merges read from merges.txt.
  std::size_t merge_count() const noexcept { return tables_->merges.size(); }

 private:
  struct merge_rule {
    std::int32_t rank;
    token_id result;
  };
  struct tables {
    std::vector<std::string> bytes;  // id -> raw bytes
    std::vector<std::string> text;   // id -> vocab.json spelling
    std::vector<bool> present;       // ids absent from vocab.json (holes) are not decodable
    std::unordered_map<std::string, token_id> by_bytes;
    std::array<token_id, 256> byte_id{};
    std::unordered_map<std::uint64_t, merge_rule> merges;  // (left, right) -> rule
    token_id eos = -1;
  };
  struct cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<token_id>> pieces;
  };
  static constexpr std::size_t cache_limit = 1u << 16;  // pieces; bounded so memory stays flat

  static std::uint64_t pair_key(token_id a, token_id b) noexcept {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }

  token_id check(token_id id) const {
    RLHF_EXPECTS(id >= 0 && id < static_cast<token_id>(tables_->bytes.size()) &&
                     tables_->present[static_cast<std::size_t>(id)],
                 "gpt2_tokenizer: token id ", id, " is not in the vocabulary (size ", tables_->bytes.size(),
                 "); the ids come from another tokenizer or model");
    return id;
  }

  /// read_file, refusing (rlhf::format_error) a file above limits::max_tokenizer_file() before reading it.
  static std::string read_bounded(const std::filesystem::path& p) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(p, ec);
    if (const auto max = limits::max_tokenizer_file(); !ec && size > max)
      RLHF_THROW(format_error, p.string(), ": ", size, " bytes, more than the ", max,
                 "-byte limit for a tokenizer file (RLHF_MAX_TOKENIZER_FILE raises it); GPT-2's is 1 MB: is this the right file?");
    return read_file(p);
  }

  void load_vocab(std::string_view text, const std::string& name) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      RLHF_THROW(format_error, name, ":", detail::line_of(text, e), ": not valid JSON (", e.what(),
                 "); vocab.json must map token strings to ids");
    } catch (const nlohmann::json::exception& e) {
      RLHF_THROW(format_error, name, ": not valid JSON (", e.what(), "); vocab.json must map token strings to ids");
    }
    // "FILE:LINE" of a token's entry, looked up only when that entry is wrong.
    auto at = [&](const std::string& key) {
      const std::size_t line = detail::json_key_line(text, key);
      return line == 0 ? name : name + ":" + std::to_string(line);
    };
    if (!j.is_object() || j.empty())
      RLHF_THROW(format_error, name, ": must be a non-empty JSON object mapping token strings to ids");
    std::unordered_map<char32_t, unsigned char> to_byte;
    for (int b = 0; b < 256; ++b) to_byte[gpt2_byte_to_unicode()[static_cast<std::size_t>(b)]] = static_cast<unsigned char>(b);
    tables& t = *tables_;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      if (!it.value().is_number_integer() || it.value().get<std::int64_t>() < 0 ||
          it.value().get<std::int64_t>() >= std::numeric_limits<token_id>::max())
        RLHF_THROW(format_error, at(key), ": token \"", key, "\" has id ", it.value().dump(),
                   "; ids must be non-negative integers");
      const auto id = static_cast<std::size_t>(it.value().get<std::int64_t>());
      if (key.empty()) RLHF_THROW(format_error, at(key), ": empty token string for id ", id);
      std::string raw;
      for (std::size_t i = 0; i < key.size();) {
        char32_t cp;
        i += detail::decode_utf8(key, i, cp);
        const auto b = to_byte.find(cp);
        if (b == to_byte.end())
          RLHF_THROW(format_error, at(key), ": token \"", key, "\" (id ", id,
                     ") has a character outside GPT-2's byte-level alphabet; this is not a byte-level BPE vocabulary");
        raw.push_back(static_cast<char>(b->second));
      }
      if (id >= limits::max_vocab())
        RLHF_THROW(format_error, at(key), ": token \"", key, "\" has id ", id, ", beyond the limit of ", limits::max_vocab(),
                   " ids (RLHF_MAX_VOCAB raises it); vocabularies number their tokens from 0");
      if (id >= t.bytes.size()) {
        t.bytes.resize(id + 1);
        t.text.resize(id + 1);
        t.present.resize(id + 1, false);
      }
      if (t.present[id])
        RLHF_THROW(format_error, at(key), ": id ", id, " is used by both \"", t.text[id], "\" and \"", key,
                   "\"; ids must be unique");
      t.present[id] = true;
      t.text[id] = key;
      t.bytes[id] = raw;
      t.by_bytes.emplace(std::move(raw), static_cast<token_id>(id));
    }
    for (int b = 0; b < 256; ++b) {
      const auto it = t.by_bytes.find(std::string(1, static_cast<char>(b)));
      if (it == t.by_bytes.end())
        RLHF_THROW(format_error, name, ": no token for byte 0x", std::hex, b,
                   "; a byte-level vocabulary needs all 256 single-byte tokens");
      t.byte_id[static_cast<std::size_t>(b)] = it->second;
    }
    const auto eos = t.by_bytes.find("<|endoftext|>");
    if (eos == t.by_bytes.end())
      RLHF_THROW(format_error, name, ": no \"<|endoftext|>\" token; GPT-2 vocabularies use it as end of text");
    t.eos = eos->second;
  }

  void load_merges(std::string_view text, const std::string& name) {
    tables& t = *tables_;
    std::size_t line_no = 0, pos = 0;
    std::int32_t rank = 0;
    std::unordered_map<char32_t, unsigned char> to_byte;
    for (int b = 0; b < 256; ++b) to_byte[gpt2_byte_to_unicode()[static_cast<std::size_t>(b)]] = static_cast<unsigned char>(b);
    auto to_id = [&](std::string_view tok, std::size_t line, std::string_view line_text) {
      std::string raw;
      for (std::size_t i = 0; i < tok.size();) {
        char32_t cp;
        i += detail::decode_utf8(tok, i, cp);
        const auto b = to_byte.find(cp);
        if (b == to_byte.end())
          RLHF_THROW(format_error, name, ":", line, ": \"", line_text,
                     "\" has a character outside GPT-2's byte-level alphabet");
        raw.push_back(static_cast<char>(b->second));
      }
      const auto it = t.by_bytes.find(raw);
      if (it == t.by_bytes.end())
        RLHF_THROW(format_error, name, ":", line, ": \"", tok, "\" (in merge \"", line_text,
                   "\") is not in vocab.json; the two files do not belong together");
      return it->second;
    };
    while (pos <= text.size()) {
      const std::size_t nl = text.find('\n', pos);
      std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
      if (line.empty()) continue;
      if (line_no == 1 && line.starts_with("#version")) continue;
      const std::size_t sp = line.find(' ');
      if (sp == std::string_view::npos || sp == 0 || sp + 1 >= line.size() ||
          line.find(' ', sp + 1) != std::string_view::npos)
        RLHF_THROW(format_error, name, ":", line_no, ": \"", line,
                   "\" is not a merge; each line must be two tokens separated by one space");
      const token_id a = to_id(line.substr(0, sp), line_no, line);
      const token_id b = to_id(line.substr(sp + 1), line_no, line);
      const std::string merged = t.bytes[static_cast<std::size_t>(a)] + t.bytes[static_cast<std::size_t>(b)];
      const auto m = t.by_bytes.find(merged);
      if (m == t.by_bytes.end())
        RLHF_THROW(format_error, name, ":", line_no, ": the result of merge \"", line,
                   "\" is not in vocab.json; the two files do not belong together");
      // A repeated merge keeps its first (best) rank, as the reference implementations do.
      t.merges.emplace(pair_key(a, b), merge_rule{rank++, m->second});
    }
  }

  void encode_piece(std::string_view piece, std::vector<token_id>& out) const {
    {
      std::lock_guard lock(cache_->mutex);
      const auto it = cache_->pieces.find(std::string(piece));
      if (it != cache_->pieces.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    const tables& t = *tables_;
    std::vector<token_id> word;
    word.reserve(piece.size());
    for (char c : piece) word.push_back(t.byte_id[static_cast<unsigned char>(c)]);
    std::vector<token_id> next;
    while (word.size() > 1) {
      // The adjacent pair with the lowest merge rank.
      const merge_rule* best = nullptr;
      token_id left = 0, right = 0;
      for (std::size_t i = 0; i + 1 < word.size(); ++i) {
        const auto it = t.merges.find(pair_key(word[i], word[i + 1]));
        if (it != t.merges.end() && (best == nullptr || it->second.rank < best->rank)) {
          best = &it->second;
          left = word[i];
          right = word[i + 1];
        }
      }
      if (best == nullptr) break;
      next.clear();
      for (std::size_t i = 0; i < word.size();) {
        if (i + 1 < word.size() && word[i] == left && word[i + 1] == right) {
          next.push_back(best->result);
          i += 2;
        } else {
          next.push_back(word[i++]);
        }
      }
      word.swap(next);
    }
    out.insert(out.end(), word.begin(), word.end());
    std::lock_guard lock(cache_->mutex);
    if (cache_->pieces.size() >= cache_limit) cache_->pieces.clear();
    cache_->pieces.emplace(std::string(piece), std::move(word));
  }

  std::shared_ptr<tables> tables_;
  std::shared_ptr<cache> cache_;
};
static_assert(tokenizer<gpt2_tokenizer>);

}  // namespace rlhf::io
