// SPDX-License-Identifier: MIT
// rlhf logprobs: per-token log-probabilities of every response field of every record.
#include <algorithm>
#include <cstdio>
#include <optional>

#include <rlhf/data.hpp>

#include "cli.hpp"
#include "model_dir.hpp"

namespace rlhf::cli {
namespace {

struct scored_row {
  std::size_t record;
  std::string field;  // "completion", "chosen", "rejected", "responses"
  std::vector<token_id> prompt, response;
};

// The kind of a data file, from its first record's fields.
enum class file_kind { completions, preferences, rankings };

file_kind detect_kind(const std::filesystem::path& path) {
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

}  // namespace

void add_logprobs_options(CLI::App& app, logprobs_options& o) {
  describe(app, "Writes, for every record, log p(token | prefix) of each response token: completion_logprobs,\n"
                "or chosen_logprobs + rejected_logprobs, or responses_logprobs (one array per response).");
  app.add_option("--model", o.model, "model directory (lm head)")->type_name("DIR")->required();
  app.add_option("--data", o.data, "JSONL: completions, preferences or rankings")->type_name("FILE")->required();
  app.add_option("--out", o.out, "JSONL output: each record with <field>_logprobs arrays added")
      ->type_name("FILE")->required();
  app.add_option("--batch-size", o.batch_size, "sequences per forward pass")
      ->type_name("N")->check(range<std::int64_t>(1, 1 << 20));
  add_threads_option(app, o.threads);
}

int run_logprobs(const logprobs_options& o) {
  set_threads(o.threads);
  check_output_file(o.out);
  const auto batch_size = static_cast<std::size_t>(o.batch_size);
  const std::filesystem::path& data_path = o.data;
  auto [model, tok] = open_policy(o.model);

  std::vector<nlohmann::json> records;
  rlhf::data::for_each_jsonl(data_path, [&](const nlohmann::json& r, const rlhf::data::source_location&) {
    records.push_back(r);
  });
  std::vector<scored_row> rows;
  switch (detect_kind(data_path)) {
    case file_kind::completions: {
      const auto d = rlhf::data::load_sft(data_path, tok);
      for (std::size_t i = 0; i < d.size(); ++i) rows.push_back({i, "completion", d[i].prompt_ids, d[i].completion_ids});
      break;
    }
    case file_kind::preferences: {
      const auto d = rlhf::data::load_preferences(data_path, tok);
      for (std::size_t i = 0; i < d.size(); ++i) {
        rows.push_back({i, "chosen", d[i].prompt_ids, d[i].chosen_ids});
        rows.push_back({i, "rejected", d[i].prompt_ids, d[i].rejected_ids});
      }
      break;
    }
    case file_kind::rankings: {
      const auto d = rlhf::data::load_rankings(data_path, tok);
      for (std::size_t i = 0; i < d.size(); ++i)
        for (const auto& resp : d[i].responses_ids) rows.push_back({i, "responses", d[i].prompt_ids, resp});
      break;
    }
  }
  RLHF_ASSERT(records.size() >= (rows.empty() ? 0 : rows.back().record + 1));
  for (const auto& r : rows) {
    const auto n = static_cast<index_t>(r.prompt.size() + r.response.size());
    if (n > model.max_positions())
      RLHF_THROW(invalid_argument, data_path.string(), ": record ", r.record + 1, " (", r.field, ") has ", n,
                 " tokens, more than the model's n_positions = ", model.max_positions(),
                 "; shorten it or use a model with more positions");
  }
  for (auto& rec : records) {
    for (const char* f : {"completion", "chosen", "rejected"})
      if (rec.contains(f) || rec.contains(std::string(f) + "_ids")) rec[std::string(f) + "_logprobs"] = nlohmann::json::array();
    if (rec.contains("responses") || rec.contains("responses_ids")) rec["responses_logprobs"] = nlohmann::json::array();
  }
  progress bar("logprobs", static_cast<long>(rows.size()));
  for (std::size_t first = 0; first < rows.size(); first += batch_size) {
    const std::size_t last = std::min(rows.size(), first + batch_size);
    std::vector<rlhf::data::sequence_pair> pairs;
    for (std::size_t i = first; i < last; ++i) pairs.push_back({rows[i].prompt, rows[i].response});
    const auto batch = rlhf::data::collate(std::span<const rlhf::data::sequence_pair>(pairs), {.pad_id = tok.eos_id()});
    const auto lp = model.score(batch);
    for (std::size_t i = first; i < last; ++i) {
      nlohmann::json values = nlohmann::json::array();
      const std::size_t b = i - first;
      for (std::size_t t = 0; t < batch.tokens.shape(1); ++t)
        if (batch.response_mask(b, t)) values.push_back(lp(b, t));
      auto& rec = records[rows[i].record];
      rec[rows[i].field + "_logprobs"].push_back(std::move(values));
    }
    bar.update(static_cast<long>(last));
  }
  bar.finish();
  // A single response field holds one array, not an array of one array.
  for (auto& rec : records)
    for (const char* f : {"completion_logprobs", "chosen_logprobs", "rejected_logprobs"})
      if (rec.contains(f) && rec[f].size() == 1) rec[f] = rec[f][0];
  rlhf::data::write_jsonl(o.out, std::span<const nlohmann::json>(records));
  std::fprintf(stderr, "rlhf logprobs: %zu records, %zu responses -> %s\n", records.size(), rows.size(),
               o.out.c_str());
  return 0;
}

}  // namespace rlhf::cli
