// SPDX-License-Identifier: MIT
#pragma once
// The built-in task of the rlhf program: short product/movie reviews. Prompts name a subject;
// completions are short reviews whose words carry sentiment. The gold reward (held out from
// every training stage) counts positive minus negative words, so "aligned" means positive,
// fluent reviews — the IMDB-style positive-sentiment task of the RGTG papers, small enough to
// train and decode on two CPU cores in minutes.
#include <cstdint>
#include <string>
#include <vector>

#include <rlhf/core/rng.hpp>

namespace rlhf::cli::task {

inline const std::vector<std::string>& subjects() {
  static const std::vector<std::string> s{"the movie", "the book", "this phone", "the hotel", "the pizza",
                                          "the concert", "this game", "the coffee", "the camera", "the show",
                                          "the lamp", "the bike"};
  return s;
}
inline const std::vector<std::string>& positive_words() {
  static const std::vector<std::string> w{"great", "good", "lovely", "excellent", "fun", "nice", "superb", "fine"};
  return w;
}
inline const std::vector<std::string>& negative_words() {
  static const std::vector<std::string> w{"bad", "awful", "boring", "poor", "dull", "terrible", "weak", "sad"};
  return w;
}
inline const std::vector<std::string>& neutral_words() {
  static const std::vector<std::string> w{"and", "very", "really", "quite", "but", "so", "also", "a bit"};
  return w;
}

/// Gold reward: (#positive − #negative words) of the completion, per word-boundary match.
inline double gold_reward(const std::string& completion) {
  double r = 0;
  std::string word;
  auto flush = [&] {
    for (const auto& p : positive_words()) r += (word == p);
    for (const auto& n : negative_words()) r -= (word == n);
    word.clear();
  };
  for (char c : completion) {
    if (c >= 'a' && c <= 'z') word += c;
    else flush();
  }
  flush();
  return r;
}

/// Prompt i of the task (deterministic).
inline std::string prompt(std::uint64_t i) {
  return "Review of " + subjects()[i % subjects().size()] + ":";
}

/// A sampled review for prompt i: 2–4 clauses "it is (very) ADJ", sentiment mixed so that the
/// SFT model is neutral on average and alignment has room to move it.
inline std::string completion(std::uint64_t i, std::uint64_t seed) {
  rlhf::counter_rng rng(seed, 1000003 + i);
  std::uint64_t c = 0;
  auto pick = [&](const std::vector<std::string>& v) { return v[static_cast<std::size_t>(rng.uniform(c++) * v.size())]; };
  const int clauses = 2 + static_cast<int>(rng.uniform(c++) * 3);
  std::string s;
  for (int k = 0; k < clauses; ++k) {
    s += k == 0 ? " it is " : (rng.uniform(c++) < 0.5 ? " and " : " but ");
    if (rng.uniform(c++) < 0.3) s += pick(neutral_words()) + " ";
    s += rng.uniform(c++) < 0.5 ? pick(positive_words()) : pick(negative_words());
  }
  return s + ".";
}

}  // namespace rlhf::cli::task
