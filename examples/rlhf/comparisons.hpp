// SPDX-License-Identifier: MIT
#pragma once
// Comparison data for the commands that learn from preferences (rlhf reward, rlhf dpo): a
// preferences file (prompt, chosen, rejected) or a rankings file (prompt, responses, ties),
// both read as rankings (a pair is a ranking of two); the file's first record decides.
#include <filesystem>
#include <utility>
#include <vector>

#include <rlhf/data.hpp>
#include <rlhf/io/any_tokenizer.hpp>

namespace rlhf::cli {

inline std::vector<rlhf::data::ranking_example> load_comparisons(const std::filesystem::path& path,
                                                                 const rlhf::io::any_tokenizer& tok) {
  bool pairs = false, seen = false;
  rlhf::data::for_each_jsonl(path, [&](const nlohmann::json& r, const rlhf::data::source_location&) {
    if (!seen) pairs = r.contains("chosen") || r.contains("chosen_ids");
    seen = true;
  });
  if (!pairs) return rlhf::data::load_rankings(path, tok);
  std::vector<rlhf::data::ranking_example> out;
  for (auto& p : rlhf::data::load_preferences(path, tok))
    out.push_back({std::move(p.prompt_ids), {std::move(p.chosen_ids), std::move(p.rejected_ids)}, {}});
  return out;
}

}  // namespace rlhf::cli
