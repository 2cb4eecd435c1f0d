// SPDX-License-Identifier: MIT
#pragma once
// Every response field of every record of a data file (completions, preferences or rankings),
// as rows to score in batches: what `rlhf logprobs` and `rlhf score` share.
#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <rlhf/data.hpp>
#include <rlhf/io/any_tokenizer.hpp>

#include "common.hpp"

namespace rlhf::cli {

/// The kind of a data file, from its first record's fields.
enum class file_kind { completions, preferences, rankings };

/// One response of one record: `field` is "completion", "chosen", "rejected" or "responses".
struct response_row {
  std::size_t record;
  std::string field;
  std::vector<token_id> prompt, response;
};

/// The records of a file (as JSON, to be written back with fields added) and their responses.
struct response_file {
  file_kind kind = file_kind::completions;
  std::vector<nlohmann::json> records;
  std::vector<response_row> rows;
};

inline file_kind detect_kind(const std::filesystem::path& path) {
  std::optional<file_kind> kind;
  rlhf::data::for_each_jsonl(path, [&](const nlohmann::json& r, const rlhf::data::source_location& where) {
    if (kind) return;
    if (r.contains("chosen") || r.contains("chosen_ids")) kind = file_kind::preferences;
    else if (r.contains("responses") || r.contains("responses_ids")) kind = file_kind::rankings;
    else if (r.contains("completion") || r.contains("completion_ids")) kind = file_kind::completions;
    else
      rlhf::data::fail_at(where, "no response field: a record needs completion, chosen + rejected, or responses "
                                 "(or their *_ids forms)");
  });
  if (!kind) RLHF_THROW(format_error, path.string(), ": no records");
  return *kind;
}

/// Reads `path` with `tok`; every prompt ⊕ response must fit `max_positions`.
/// @throws rlhf::invalid_argument naming the file and the 1-based record that does not fit
inline response_file read_responses(const std::filesystem::path& path, const rlhf::io::any_tokenizer& tok,
                                    index_t max_positions) {
  response_file f;
  rlhf::data::for_each_jsonl(path, [&](const nlohmann::json& r, const rlhf::data::source_location&) {
    f.records.push_back(r);
  });
  f.kind = detect_kind(path);
  switch (f.kind) {
    case file_kind::completions: {
      const auto d = rlhf::data::load_sft(path, tok);
      for (std::size_t i = 0; i < d.size(); ++i) f.rows.push_back({i, "completion", d[i].prompt_ids, d[i].completion_ids});
      break;
    }
    case file_kind::preferences: {
      const auto d = rlhf::data::load_preferences(path, tok);
      for (std::size_t i = 0; i < d.size(); ++i) {
        f.rows.push_back({i, "chosen", d[i].prompt_ids, d[i].chosen_ids});
        f.rows.push_back({i, "rejected", d[i].prompt_ids, d[i].rejected_ids});
      }
      break;
    }
    case file_kind::rankings: {
      const auto d = rlhf::data::load_rankings(path, tok);
      for (std::size_t i = 0; i < d.size(); ++i)
        for (const auto& resp : d[i].responses_ids) f.rows.push_back({i, "responses", d[i].prompt_ids, resp});
      break;
    }
  }
  RLHF_ASSERT(f.records.size() >= (f.rows.empty() ? 0 : f.rows.back().record + 1));
  for (const auto& r : f.rows) {
    const auto n = static_cast<index_t>(r.prompt.size() + r.response.size());
    if (n > max_positions)
      RLHF_THROW(invalid_argument, path.string(), ": record ", r.record + 1, " (", r.field, ") has ", n,
                 " tokens, more than the model's n_positions = ", max_positions,
                 "; shorten it or use a model with more positions");
  }
  return f;
}

/// Calls score(batch, first) for consecutive rows [first, first + batch rows), batch_size at a
/// time, with a progress line labelled `what`.
template <class Score>
void score_in_batches(const std::vector<response_row>& rows, std::size_t batch_size, token_id pad_id, const char* what,
                      Score&& score) {
  progress bar(what, static_cast<long>(rows.size()));
  for (std::size_t first = 0; first < rows.size(); first += batch_size) {
    const std::size_t last = std::min(rows.size(), first + batch_size);
    std::vector<rlhf::data::sequence_pair> pairs;
    for (std::size_t i = first; i < last; ++i) pairs.push_back({rows[i].prompt, rows[i].response});
    score(rlhf::data::collate(std::span<const rlhf::data::sequence_pair>(pairs), {.pad_id = pad_id}), first);
    bar.update(static_cast<long>(last));
  }
}

}  // namespace rlhf::cli
