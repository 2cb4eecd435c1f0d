// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The precomputed log-prob files `rlhf logprobs` writes (CLI.md): one JSON object per line of
/// the data file it read, with a per-token array of log π(y_t | x, y_<t) per response field —
/// `chosen_logprobs` + `rejected_logprobs` for a preference record, `responses_logprobs` (an
/// array of arrays, best first) for a ranking. DPO-family trainers read them in place of a
/// loaded reference model (the reference's forward passes done once, offline, as TRL's
/// precompute_ref_log_probs does).
///
/// Per record the reader keeps each response's sum (or mean, when length-normalised) and its
/// token count; the caller checks the counts against its own tokenization.
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "rlhf/core/view.hpp"
#include "rlhf/data/jsonl.hpp"

namespace rlhf::data {

/// Per record (line), per response: the summed (or mean) log-prob and the token count.
struct response_log_probs {
  std::vector<std::vector<double>> sums;
  std::vector<std::vector<index_t>> tokens;
};

struct response_log_probs_options {
  bool length_normalised = false;  ///< keep the mean per token instead of the sum
};

/// The largest log-prob accepted: 0 plus the rounding of a float log-softmax.
inline constexpr double max_log_prob = 1e-4;

/// Reads a log-prob file of `rlhf logprobs`. A record needs chosen_logprobs + rejected_logprobs
/// or responses_logprobs with at least two arrays; every entry is a finite number <= max_log_prob,
/// and every sum is finite (a sum that overflows a double is refused, not kept as -inf).
/// @throws rlhf::format_error "FILE:LINE: ..." for a malformed record; rlhf::io_error for a
///         missing file.
inline response_log_probs load_response_log_probs(const std::filesystem::path& file,
                                                  const response_log_probs_options& options = {}) {
  response_log_probs out;
  for_each_jsonl(file, [&](const nlohmann::json& rec, const source_location& where) {
    std::vector<const nlohmann::json*> arrays;
    if (rec.contains("chosen_logprobs") && rec.contains("rejected_logprobs")) {
      arrays = {&rec["chosen_logprobs"], &rec["rejected_logprobs"]};
    } else if (rec.contains("responses_logprobs") && rec["responses_logprobs"].is_array()) {
      for (const auto& a : rec["responses_logprobs"]) arrays.push_back(&a);
      if (arrays.size() < 2)
        fail_at(where, "responses_logprobs holds ", arrays.size(), " arrays; a ranking has at least 2 responses");
    } else {
      fail_at(where, "no chosen_logprobs + rejected_logprobs or responses_logprobs; write the file with "
              "rlhf logprobs --model REF --data DATA");
    }
    auto& sums = out.sums.emplace_back();
    auto& tokens = out.tokens.emplace_back();
    for (const auto* a : arrays) {
      if (!a->is_array()) fail_at(where, "a *_logprobs field is not an array of numbers");
      double s = 0;
      for (const auto& x : *a) {
        if (!x.is_number() || !std::isfinite(x.get<double>()))
          fail_at(where, "a log-prob is not a finite number");
        const double v = x.get<double>();
        if (v > max_log_prob)
          fail_at(where, "a log-prob of ", v, " (a probability above 1); write the file with rlhf logprobs");
        s += v;
      }
      if (!std::isfinite(s))
        fail_at(where, "the log-probs of a response sum to ", s, " (too large to be log-probs); write the file "
                "with rlhf logprobs");
      const auto n = static_cast<index_t>(a->size());
      sums.push_back(options.length_normalised && n > 0 ? s / static_cast<double>(n) : s);
      tokens.push_back(n);
    }
  });
  return out;
}

}  // namespace rlhf::data
