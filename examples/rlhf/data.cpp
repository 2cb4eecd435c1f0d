// SPDX-License-Identifier: MIT
// rlhf data: writes the built-in review task's files (see task.hpp).
#include <algorithm>
#include <cstdio>

#include <rlhf/data.hpp>

#include "cli.hpp"
#include "task.hpp"

namespace rlhf::cli {

void add_data_options(CLI::App& app, data_options& o) {
  describe(app, "Writes the built-in task: reviews of a subject; the held-out gold reward counts positive\n"
                "minus negative words (it is stored in the SFT files only as documentation).");
  app.add_option("--out", o.out, "directory for sft.jsonl, sft_eval.jsonl, prompts.jsonl")->type_name("DIR")->required();
  app.add_option("--records", o.records, "SFT records")->type_name("N")->check(range<std::int64_t>(1, 10'000'000));
  app.add_option("--prompts", o.prompts, "prompts")->type_name("N")->check(range<std::int64_t>(1, 10'000'000));
  add_seed_option(app, o.seed);
}

int run_data(const data_options& o) {
  const auto n = static_cast<std::uint64_t>(o.records);
  const auto np = static_cast<std::uint64_t>(o.prompts);
  output_directory out(o.out);
  auto sft = [&](std::uint64_t first, std::uint64_t count) {
    std::vector<nlohmann::json> rows;
    for (std::uint64_t i = first; i < first + count; ++i) {
      const auto c = task::completion(i, o.seed);
      rows.push_back({{"prompt", task::prompt(i)}, {"completion", c}, {"gold_reward", task::gold_reward(c)}});
    }
    return rows;
  };
  rlhf::data::write_jsonl(o.out / "sft.jsonl", sft(0, n));
  rlhf::data::write_jsonl(o.out / "sft_eval.jsonl", sft(n, std::max<std::uint64_t>(1, n / 10)));
  std::vector<nlohmann::json> prompts;
  for (std::uint64_t i = 0; i < np; ++i) prompts.push_back({{"prompt", task::prompt(i)}});
  rlhf::data::write_jsonl(o.out / "prompts.jsonl", prompts);
  out.keep();
  std::fprintf(stderr, "rlhf data: wrote %s/{sft,sft_eval,prompts}.jsonl\n", o.out.c_str());
  return 0;
}

}  // namespace rlhf::cli
