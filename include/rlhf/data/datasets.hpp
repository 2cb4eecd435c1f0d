// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The dataset files of CLI.md ("Data files"): SFT completions, pairwise preferences
/// (Bradley–Terry / DPO data, Ouyang et al. 2022; Rafailov et al. 2023), rankings (k-wise:
/// every ordered pair of a best-first ranking, Bradley–Terry, as InstructGPT trains on all
/// C(k, 2) comparisons), prompts, and scored responses (CD value training, Mudgal et al. 2024).
///
/// Per record, each field is given either as text or as token ids:
///  - `*_ids` fields are used exactly as given (nothing added), each id in [0, vocab_size);
///  - text fields are tokenized with the model's tokenizer, and an EOS token follows each
///    response (completion, chosen, rejected, every ranking response), never a prompt;
///  - when both spellings are present the ids win (the text is kept for prompts).
/// A malformed line is an rlhf::format_error "FILE:LINE: what is wrong; what to do".
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/data/jsonl.hpp"
#include "rlhf/io/tokenizer.hpp"

namespace rlhf::data {

/// A demonstration for supervised fine-tuning: the loss counts completion tokens only.
struct sft_example {
  std::vector<token_id> prompt_ids;
  std::vector<token_id> completion_ids;
};

/// A pairwise preference chosen ≻ rejected for one prompt (reward-model and DPO data).
struct preference_example {
  std::vector<token_id> prompt_ids;
  std::vector<token_id> chosen_ids;
  std::vector<token_id> rejected_ids;
};

/// k >= 2 responses to one prompt ranked best first; `ties` lists index pairs (i, j), i != j,
/// of responses judged equal (no preference is taken from a tied pair).
struct ranking_example {
  std::vector<token_id> prompt_ids;
  std::vector<std::vector<token_id>> responses_ids;
  std::vector<std::pair<index_t, index_t>> ties;
};

/// A prompt for generation or online RL. `prompt_text` is the record's text, or the decoded
/// ids when only `prompt_ids` was given.
struct prompt_example {
  std::vector<token_id> prompt_ids;
  std::string prompt_text;
};

/// A response with its reward (targets for value / controlled-decoding training).
struct scored_example {
  std::vector<token_id> prompt_ids;
  std::vector<token_id> completion_ids;
  double reward = 0.0;
};

namespace detail {

inline const nlohmann::json* find_field(const nlohmann::json& rec, std::string_view field) {
  const auto it = rec.find(std::string(field));
  return it == rec.end() || it->is_null() ? nullptr : &*it;
}

inline std::vector<token_id> ids_from(const nlohmann::json& v, std::string_view field, index_t vocab,
                                      const source_location& where) {
  if (!v.is_array())
    fail_at(where, "field \"", field, "\" must be an array of token ids (got ", v.type_name(), ")");
  std::vector<token_id> out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto& x = v[i];
    if (!x.is_number_integer())
      fail_at(where, field, "[", i, "] = ", x.dump(), " is not an integer token id");
    const auto id = x.get<std::int64_t>();
    if (x.is_number_unsigned() ? x.get<std::uint64_t>() >= static_cast<std::uint64_t>(vocab) : (id < 0 || id >= vocab))
      fail_at(where, field, "[", i, "] = ", x.dump(), " is outside the vocabulary [0, ", vocab,
              "); tokenize with this model's tokenizer or give text instead");
    out.push_back(static_cast<token_id>(id));
  }
  return out;
}

inline std::string text_from(const nlohmann::json& v, std::string_view field, const source_location& where) {
  if (!v.is_string()) fail_at(where, "field \"", field, "\" must be a string (got ", v.type_name(), ")");
  return v.get<std::string>();
}

/// The prompt of a record: `prompt_ids` as given, else `prompt` tokenized. Never empty.
template <tokenizer Tok>
std::vector<token_id> read_prompt(const nlohmann::json& rec, const Tok& tok, const source_location& where,
                                  std::string_view kind, std::string* text_out = nullptr) {
  const auto* given = find_field(rec, "prompt_ids");
  const auto* text = find_field(rec, "prompt");
  std::vector<token_id> out;
  if (text && text_out) *text_out = text_from(*text, "prompt", where);
  if (given) {
    out = ids_from(*given, "prompt_ids", static_cast<index_t>(tok.vocab_size()), where);
  } else if (text) {
    out = tok.encode(text_from(*text, "prompt", where));
  } else {
    fail_at(where, "missing field \"prompt\" (or \"prompt_ids\"); ", kind);
  }
  if (out.empty())
    fail_at(where, "empty prompt; every record needs at least one prompt token (the first response token is "
                   "predicted from it)");
  if (text_out && !text) *text_out = tok.decode(out);
  return out;
}

/// A response field: `<field>_ids` as given (non-empty), else `<field>` tokenized + EOS.
template <tokenizer Tok>
std::vector<token_id> read_response(const nlohmann::json& rec, const Tok& tok, const source_location& where,
                                    std::string_view field, std::string_view kind) {
  const std::string ids_field = std::string(field) + "_ids";
  if (const auto* given = find_field(rec, ids_field)) {
    auto out = ids_from(*given, ids_field, static_cast<index_t>(tok.vocab_size()), where);
    if (out.empty()) fail_at(where, "empty \"", ids_field, "\"; a response needs at least one token");
    return out;
  }
  if (const auto* text = find_field(rec, field)) {
    auto out = tok.encode(text_from(*text, field, where));
    out.push_back(static_cast<token_id>(tok.eos_id()));
    return out;
  }
  fail_at(where, "missing field \"", field, "\" (or \"", ids_field, "\"); ", kind);
}

template <class Fn>
std::size_t load_records(const std::filesystem::path& path, Fn&& fn) {
  const std::size_t n = for_each_jsonl(path, fn);
  if (n == 0) RLHF_THROW(format_error, path.string(), ": no records; the file is empty (one JSON object per line)");
  return n;
}

}  // namespace detail

/// Reads an SFT file: `prompt` + `completion` (or `prompt_ids` + `completion_ids`).
template <tokenizer Tok>
std::vector<sft_example> load_sft(const std::filesystem::path& path, const Tok& tok) {
  constexpr std::string_view kind = "SFT records need prompt and completion";
  std::vector<sft_example> out;
  detail::load_records(path, [&](const nlohmann::json& rec, const source_location& where) {
    sft_example e;
    e.prompt_ids = detail::read_prompt(rec, tok, where, kind);
    e.completion_ids = detail::read_response(rec, tok, where, "completion", kind);
    out.push_back(std::move(e));
  });
  return out;
}

/// Reads a preference file: `prompt`, `chosen`, `rejected` (or the `*_ids` forms).
template <tokenizer Tok>
std::vector<preference_example> load_preferences(const std::filesystem::path& path, const Tok& tok) {
  constexpr std::string_view kind = "preference records need prompt, chosen and rejected";
  std::vector<preference_example> out;
  detail::load_records(path, [&](const nlohmann::json& rec, const source_location& where) {
    preference_example e;
    e.prompt_ids = detail::read_prompt(rec, tok, where, kind);
    e.chosen_ids = detail::read_response(rec, tok, where, "chosen", kind);
    e.rejected_ids = detail::read_response(rec, tok, where, "rejected", kind);
    out.push_back(std::move(e));
  });
  return out;
}

/// Reads a ranking file: `prompt`, `responses` (best first, >= 2) or `responses_ids`, and
/// optional `ties`: [[i, j], ...] with 0 <= i, j < k and i != j.
template <tokenizer Tok>
std::vector<ranking_example> load_rankings(const std::filesystem::path& path, const Tok& tok) {
  constexpr std::string_view kind = "ranking records need prompt and responses (best first)";
  std::vector<ranking_example> out;
  detail::load_records(path, [&](const nlohmann::json& rec, const source_location& where) {
    ranking_example e;
    e.prompt_ids = detail::read_prompt(rec, tok, where, kind);
    if (const auto* lists = detail::find_field(rec, "responses_ids")) {
      if (!lists->is_array()) fail_at(where, "field \"responses_ids\" must be an array of token-id arrays");
      for (std::size_t i = 0; i < lists->size(); ++i) {
        const std::string name = "responses_ids[" + std::to_string(i) + "]";
        auto r = detail::ids_from((*lists)[i], name, static_cast<index_t>(tok.vocab_size()), where);
        if (r.empty()) fail_at(where, "empty ", name, "; a response needs at least one token");
        e.responses_ids.push_back(std::move(r));
      }
    } else if (const auto* texts = detail::find_field(rec, "responses")) {
      if (!texts->is_array()) fail_at(where, "field \"responses\" must be an array of strings");
      for (std::size_t i = 0; i < texts->size(); ++i) {
        auto r = tok.encode(detail::text_from((*texts)[i], "responses[" + std::to_string(i) + "]", where));
        r.push_back(static_cast<token_id>(tok.eos_id()));
        e.responses_ids.push_back(std::move(r));
      }
    } else {
      fail_at(where, "missing field \"responses\" (or \"responses_ids\"); ", kind);
    }
    const auto k = static_cast<index_t>(e.responses_ids.size());
    if (k < 2) fail_at(where, "a ranking needs at least 2 responses (got ", k, ")");
    if (const auto* ties = detail::find_field(rec, "ties")) {
      if (!ties->is_array()) fail_at(where, "field \"ties\" must be an array of [i, j] index pairs");
      for (const auto& t : *ties) {
        if (!t.is_array() || t.size() != 2 || !t[0].is_number_integer() || !t[1].is_number_integer())
          fail_at(where, "tie ", t.dump(), " is not an [i, j] pair of response indices");
        const auto i = t[0].get<std::int64_t>(), j = t[1].get<std::int64_t>();
        if (i < 0 || j < 0 || i >= k || j >= k || i == j)
          fail_at(where, "tie ", t.dump(), " needs two different response indices in [0, ", k, ")");
        e.ties.emplace_back(i, j);
      }
    }
    out.push_back(std::move(e));
  });
  return out;
}

/// Reads a prompt file: `prompt` (or `prompt_ids`).
template <tokenizer Tok>
std::vector<prompt_example> load_prompts(const std::filesystem::path& path, const Tok& tok) {
  std::vector<prompt_example> out;
  detail::load_records(path, [&](const nlohmann::json& rec, const source_location& where) {
    prompt_example e;
    e.prompt_ids = detail::read_prompt(rec, tok, where, "prompt records need prompt", &e.prompt_text);
    out.push_back(std::move(e));
  });
  return out;
}

/// Reads scored responses: `prompt`, `completion` (or ids) and a finite number `reward`.
template <tokenizer Tok>
std::vector<scored_example> load_scored(const std::filesystem::path& path, const Tok& tok) {
  constexpr std::string_view kind = "scored records need prompt, completion and reward";
  std::vector<scored_example> out;
  detail::load_records(path, [&](const nlohmann::json& rec, const source_location& where) {
    scored_example e;
    e.prompt_ids = detail::read_prompt(rec, tok, where, kind);
    e.completion_ids = detail::read_response(rec, tok, where, "completion", kind);
    const auto* r = detail::find_field(rec, "reward");
    if (!r) fail_at(where, "missing field \"reward\"; ", kind);
    if (!r->is_number()) fail_at(where, "field \"reward\" must be a number (got ", r->type_name(), ")");
    e.reward = r->get<double>();
    if (!std::isfinite(e.reward)) fail_at(where, "reward ", r->dump(), " is not finite");
    out.push_back(std::move(e));
  });
  return out;
}

}  // namespace rlhf::data
