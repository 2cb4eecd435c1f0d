// SPDX-License-Identifier: MIT
// rlhf logprobs: per-token log-probabilities of every response field of every record.
#include <algorithm>
#include <cstdio>

#include <rlhf/data.hpp>

#include "cli.hpp"
#include "model_dir.hpp"
#include "responses.hpp"

namespace rlhf::cli {

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

  auto [kind, records, rows] = read_responses(data_path, tok, model.max_positions());
  (void)kind;
  for (auto& rec : records) {
    for (const char* f : {"completion", "chosen", "rejected"})
      if (rec.contains(f) || rec.contains(std::string(f) + "_ids")) rec[std::string(f) + "_logprobs"] = nlohmann::json::array();
    if (rec.contains("responses") || rec.contains("responses_ids")) rec["responses_logprobs"] = nlohmann::json::array();
  }
  score_in_batches(rows, batch_size, pad_id_of(tok), "logprobs",
                   [&](const rlhf::token_batch& batch, std::size_t first) {
    const auto lp = model.score(batch);
    for (std::size_t b = 0; b < batch.tokens.shape(0); ++b) {
      nlohmann::json values = nlohmann::json::array();
      for (std::size_t t = 0; t < batch.tokens.shape(1); ++t)
        if (batch.response_mask(b, t)) values.push_back(lp(b, t));
      records[rows[first + b].record][rows[first + b].field + "_logprobs"].push_back(std::move(values));
    }
  });
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
