// SPDX-License-Identifier: MIT
// rlhf score: the reward r(s, a) a reward model gives every response of every record (CLI.md):
// `reward` for completions, `chosen_reward` + `rejected_reward` for preferences (and the
// accuracy P(r+ > r-) on stderr), `rewards` for rankings. A CD value model (value head) scores
// with its value at the last token, V(s, a), its estimate of the reward.
#include <cstdio>
#include <filesystem>
#include <limits>

#include <rlhf/data.hpp>
#include <rlhf/model/sequence_rewards.hpp>

#include "cli.hpp"
#include "model_dir.hpp"
#include "responses.hpp"

namespace rlhf::cli {

void add_score_options(CLI::App& app, score_options& o) {
  describe(app, "Writes every record with its rewards added: reward (completions), chosen_reward + rejected_reward\n"
                "(preferences; the accuracy is printed), or rewards (rankings, one per response).");
  app.add_option("--model", o.model, "reward model directory (reward head: sequence or prefix; or a value head, read at the last token)")->type_name("DIR")->required();
  app.add_option("--data", o.data, "JSONL: completions, preferences or rankings")->type_name("FILE")->required();
  app.add_option("--out", o.out, "JSONL output: each record with its rewards added")->type_name("FILE")->required();
  app.add_option("--batch-size", o.batch_size, "sequences per forward pass")
      ->type_name("N")->check(range<std::int64_t>(1, 1 << 20));
  add_threads_option(app, o.threads);
}

int run_score(const score_options& o) {
  set_threads(o.threads);
  check_output_file(o.out);
  // Reward models (sequence, prefix) and CD value models alike: a scalar head read at the last token.
  const bool value = std::filesystem::is_directory(o.model) && rlhf::read_model_info(o.model).head == rlhf::head_kind::value;
  auto [model, tok] = open_model<rlhf::scalar_head>(o.model, value ? rlhf::head_kind::value : rlhf::head_kind::reward);
  auto [kind, records, rows] = read_responses(o.data, tok, model.max_positions());
  for (auto& rec : records)
    if (kind == file_kind::rankings) rec["rewards"] = nlohmann::json::array();
  score_in_batches(rows, static_cast<std::size_t>(o.batch_size), pad_id_of(tok), "score",
                   [&](const rlhf::token_batch& batch, std::size_t first) {
    const auto r = rlhf::sequence_rewards(model, batch);
    for (std::size_t b = 0; b < r.size(); ++b) {
      const auto& row = rows[first + b];
      auto& rec = records[row.record];
      if (kind == file_kind::rankings) rec["rewards"].push_back(r(b));
      else if (kind == file_kind::completions) rec["reward"] = r(b);
      else rec[row.field + "_reward"] = r(b);
    }
  });
  if (kind == file_kind::preferences) {
    std::size_t right = 0;
    for (const auto& rec : records) right += rec["chosen_reward"].get<double>() > rec["rejected_reward"].get<double>();
    std::fprintf(stderr, "rlhf score: accuracy %.4f (%zu of %zu pairs ranked as labelled)\n",
                 records.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(records.size()), right,
                 records.size());
  }
  rlhf::data::write_jsonl(o.out, std::span<const nlohmann::json>(records));
  std::fprintf(stderr, "rlhf score: %zu records, %zu responses -> %s\n", records.size(), rows.size(), o.out.c_str());
  return 0;
}

}  // namespace rlhf::cli
