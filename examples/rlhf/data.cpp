// SPDX-License-Identifier: MIT
// rlhf data: writes the built-in review task's files (see task.hpp).
#include <cstdio>

#include <rlhf/data.hpp>

#include "commands.hpp"
#include "common.hpp"
#include "task.hpp"

namespace rlhf::cli {

int run_data(int argc, char** argv) {
  options opt("data", {
      {"out", "DIR", "directory for sft.jsonl, sft_eval.jsonl, prompts.jsonl", "", true},
      {"records", "N", "SFT records", "2000"},
      {"prompts", "N", "prompts", "100"},
      {"seed", "N", "random seed", "1"},
  });
  opt.parse(argc, argv, 2);
  if (opt.flag("help")) {
    std::fputs(opt.help("Writes the built-in task: reviews of a subject; the held-out gold reward counts positive\n"
                        "minus negative words (it is stored in the prompts file only as documentation).").c_str(),
               stdout);
    return 0;
  }
  const std::filesystem::path out = opt.str("out");
  const auto n = static_cast<std::uint64_t>(opt.integer("records", 1, 10'000'000));
  const auto np = static_cast<std::uint64_t>(opt.integer("prompts", 1, 10'000'000));
  const auto seed = static_cast<std::uint64_t>(opt.integer("seed", 0, INT64_MAX));
  std::filesystem::create_directories(out);
  auto sft = [&](std::uint64_t first, std::uint64_t count) {
    std::vector<nlohmann::json> rows;
    for (std::uint64_t i = first; i < first + count; ++i) {
      const auto c = task::completion(i, seed);
      rows.push_back({{"prompt", task::prompt(i)}, {"completion", c}, {"gold_reward", task::gold_reward(c)}});
    }
    return rows;
  };
  rlhf::data::write_jsonl(out / "sft.jsonl", sft(0, n));
  rlhf::data::write_jsonl(out / "sft_eval.jsonl", sft(n, std::max<std::uint64_t>(1, n / 10)));
  std::vector<nlohmann::json> prompts;
  for (std::uint64_t i = 0; i < np; ++i) prompts.push_back({{"prompt", task::prompt(i)}});
  rlhf::data::write_jsonl(out / "prompts.jsonl", prompts);
  std::fprintf(stderr, "rlhf data: wrote %s/{sft,sft_eval,prompts}.jsonl\n", out.c_str());
  return 0;
}

}  // namespace rlhf::cli
