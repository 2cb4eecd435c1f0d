// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A runtime, type-erased sampler: a list of logit processors applied in order, then a
/// selector; built in code or parsed from the command line's `--sampler` string (CLI.md):
///
///     "temperature=0.7,top_k=40,top_p=0.9,min_p=0.05"
///
/// Items are applied in the written order, then categorical sampling. Names and ranges:
///   temperature=T (T >= 0; T = 0 is greedy) · top_k=K (integer >= 0; 0 = off) ·
///   top_p=P (0 < P <= 1) · min_p=P (0 <= P <= 1) · typical=TAU (0 < TAU <= 1; alias typical_p) ·
///   repetition_penalty=THETA (> 0) · frequency_penalty=A · presence_penalty=A (finite) ·
///   logit_bias=ID:BIAS;ID:BIAS (BIAS finite or -inf) · greedy · categorical (last item only).
/// The seed is not part of the string: it is `generate_options::seed` (the CLI's `--seed`).
/// An empty string is plain categorical sampling at temperature 1.
/// Value semantics: copying an any_sampler deep-copies its stages (one copy per row in
/// `generate`, so stateful penalties never share state across rows).
#include <charconv>
#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "rlhf/sampling/categorical.hpp"
#include "rlhf/sampling/concepts.hpp"
#include "rlhf/sampling/frequency_penalty.hpp"
#include "rlhf/sampling/greedy.hpp"
#include "rlhf/sampling/logit_bias.hpp"
#include "rlhf/sampling/min_p.hpp"
#include "rlhf/sampling/repetition_penalty.hpp"
#include "rlhf/sampling/temperature.hpp"
#include "rlhf/sampling/top_k.hpp"
#include "rlhf/sampling/top_p.hpp"
#include "rlhf/sampling/typical.hpp"

namespace rlhf::sampling {

namespace detail {
struct erased_processor {
  virtual ~erased_processor() = default;
  virtual void apply(candidates& c) = 0;
  virtual void accept(token_id t) = 0;
  virtual void reset() = 0;
  virtual void observe_prompt(std::span<const token_id> prompt) = 0;
  virtual std::unique_ptr<erased_processor> clone() const = 0;
};
template <class P>
struct processor_model final : erased_processor {
  explicit processor_model(P p) : p_(std::move(p)) {}
  void apply(candidates& c) override { p_.apply(c); }
  void accept(token_id t) override { notify_accept(p_, t); }
  void reset() override { notify_reset(p_); }
  void observe_prompt(std::span<const token_id> prompt) override { notify_prompt(p_, prompt); }
  std::unique_ptr<erased_processor> clone() const override { return std::make_unique<processor_model>(p_); }
  P p_;
};
struct erased_selector {
  virtual ~erased_selector() = default;
  virtual token_id select(const candidates& c, const counter_rng& rng, std::uint64_t counter) = 0;
  virtual double log_prob(const candidates& c, token_id t) = 0;
  virtual void accept(token_id t) = 0;
  virtual void reset() = 0;
  virtual std::unique_ptr<erased_selector> clone() const = 0;
};
template <class S>
struct selector_model final : erased_selector {
  explicit selector_model(S s) : s_(std::move(s)) {}
  token_id select(const candidates& c, const counter_rng& rng, std::uint64_t counter) override {
    return s_.select(c, rng, counter);
  }
  double log_prob(const candidates& c, token_id t) override { return s_.log_prob(c, t); }
  void accept(token_id t) override { notify_accept(s_, t); }
  void reset() override { notify_reset(s_); }
  std::unique_ptr<erased_selector> clone() const override { return std::make_unique<selector_model>(s_); }
  S s_;
};

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
/// A decimal number (or inf/-inf) that uses the whole of `text`; NaN is refused.
inline double parse_number(std::string_view stage, std::string_view text, std::string_view range) {
  double v = 0.0;
  const char* b = text.data();
  const char* e = text.data() + text.size();
  if (!text.empty() && *b == '+') ++b;
  const auto [ptr, ec] = std::from_chars(b, e, v);
  if (text.empty() || ec != std::errc{} || ptr != e || std::isnan(v))
    RLHF_THROW(invalid_argument, "sampler: ", stage, "='", text, "' is not a number; allowed range: ", range);
  return v;
}
inline long long parse_integer(std::string_view stage, std::string_view text, std::string_view range) {
  long long v = 0;
  const char* b = text.data();
  const char* e = text.data() + text.size();
  if (!text.empty() && *b == '+') ++b;
  const auto [ptr, ec] = std::from_chars(b, e, v);
  if (text.empty() || ec != std::errc{} || ptr != e)
    RLHF_THROW(invalid_argument, "sampler: ", stage, "='", text, "' is not an integer; allowed range: ", range);
  return v;
}
/// Runs a stage constructor; re-labels its range error with the string's item for the user.
template <class F>
auto construct(std::string_view item, F&& make) {
  try {
    return make();
  } catch (const invalid_argument& e) {
    RLHF_THROW(invalid_argument, "sampler: bad item '", item, "': ", e.what());
  }
}
}  // namespace detail

/// Processors in order, then a selector (categorical unless told otherwise); a `rlhf::sampler`.
class any_sampler {
 public:
  /// Plain categorical sampling (temperature 1, no truncation).
  any_sampler() : selector_(std::make_unique<detail::selector_model<categorical>>(categorical{})) {}
  any_sampler(const any_sampler& o)
      : selector_(o.selector_->clone()), description_(o.description_), selector_label_(o.selector_label_) {
    processors_.reserve(o.processors_.size());
    for (const auto& p : o.processors_) processors_.push_back(p->clone());
  }
  any_sampler& operator=(const any_sampler& o) {
    if (this != &o) *this = any_sampler(o);
    return *this;
  }
  any_sampler(any_sampler&&) noexcept = default;
  any_sampler& operator=(any_sampler&&) noexcept = default;
  ~any_sampler() = default;

  /// Appends a processor (applied after the ones already added).
  template <logit_processor P>
  any_sampler& then(P p, std::string_view label = "processor") {
    processors_.push_back(std::make_unique<detail::processor_model<P>>(std::move(p)));
    append_description(label);
    return *this;
  }
  /// Replaces the selector.
  template <selector S>
  any_sampler& select_with(S s, std::string_view label = "selector") {
    selector_ = std::make_unique<detail::selector_model<S>>(std::move(s));
    selector_label_ = label;
    return *this;
  }

  /// Parses the `--sampler` string (see the file comment).
  /// @throws rlhf::invalid_argument naming the item and its allowed range on an unknown name,
  ///         a malformed or out-of-range value, or a selector that is not the last item.
  static any_sampler parse(std::string_view spec) {
    any_sampler s;
    std::vector<std::string_view> items;
    for (std::size_t start = 0; start <= spec.size();) {
      const std::size_t comma = spec.find(',', start);
      const std::size_t end = comma == std::string_view::npos ? spec.size() : comma;
      items.push_back(detail::trim(spec.substr(start, end - start)));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (items.size() == 1 && items[0].empty()) return s;
    for (std::size_t k = 0; k < items.size(); ++k) {
      const std::string_view item = items[k];
      RLHF_EXPECTS(!item.empty(), "sampler: empty item at position ", k + 1, " of '", spec,
                   "'; separate items with single commas, e.g. \"temperature=0.7,top_k=40\"");
      const std::size_t eq = item.find('=');
      const std::string_view name = detail::trim(item.substr(0, eq));
      const std::string_view value = eq == std::string_view::npos ? std::string_view{} : detail::trim(item.substr(eq + 1));
      const bool last = k + 1 == items.size();
      if (name == "greedy" || name == "categorical") {
        RLHF_EXPECTS(eq == std::string_view::npos, "sampler: '", name, "' takes no value (got '", item, "')");
        RLHF_EXPECTS(last, "sampler: '", name, "' selects the token and must be the last item of '", spec, "'");
        if (name == "greedy")
          s.select_with(greedy{}, "greedy");
        else
          s.select_with(categorical{}, "categorical");
        continue;
      }
      RLHF_EXPECTS(eq != std::string_view::npos, "sampler: item '", item, "' needs a value (name=value); known names: ",
                   known_names());
      if (name == "temperature") {
        const double t = detail::parse_number(name, value, "[0, inf), 0 = greedy");
        s.then(detail::construct(item, [&] { return temperature{t}; }), item);
        if (t == 0.0) s.select_with(greedy{}, "greedy");
      } else if (name == "top_k") {
        const long long kk = detail::parse_integer(name, value, "integer >= 0, 0 = off");
        s.then(detail::construct(item, [&] { return top_k{static_cast<index_t>(kk)}; }), item);
      } else if (name == "top_p") {
        const double p = detail::parse_number(name, value, "(0, 1], 1 = off");
        s.then(detail::construct(item, [&] { return top_p{p}; }), item);
      } else if (name == "min_p") {
        const double p = detail::parse_number(name, value, "[0, 1], 0 = off");
        s.then(detail::construct(item, [&] { return min_p{p}; }), item);
      } else if (name == "typical" || name == "typical_p") {
        const double p = detail::parse_number(name, value, "(0, 1], 1 = off");
        s.then(detail::construct(item, [&] { return typical{p}; }), item);
      } else if (name == "repetition_penalty") {
        const double th = detail::parse_number(name, value, "(0, inf), 1 = off");
        s.then(detail::construct(item, [&] { return repetition_penalty{th}; }), item);
      } else if (name == "frequency_penalty") {
        const double a = detail::parse_number(name, value, "finite, 0 = off");
        s.then(detail::construct(item, [&] { return frequency_penalty{a, 0.0}; }), item);
      } else if (name == "presence_penalty") {
        const double a = detail::parse_number(name, value, "finite, 0 = off");
        s.then(detail::construct(item, [&] { return frequency_penalty{0.0, a}; }), item);
      } else if (name == "logit_bias") {
        s.then(parse_bias(item, value), item);
      } else if (name == "seed") {
        RLHF_THROW(invalid_argument, "sampler: 'seed' is not a stage; pass the seed separately "
                                     "(generate_options::seed, the CLI's --seed)");
      } else {
        RLHF_THROW(invalid_argument, "sampler: unknown stage '", name, "' in '", spec, "'; known names: ", known_names());
      }
    }
    return s;
  }

  sampled sample(candidates& c, const counter_rng& rng, std::uint64_t counter) {
    process(c);
    const token_id t = selector_->select(c, rng, counter);
    return {t, selector_->log_prob(c, t)};
  }
  void process(candidates& c) {
    for (auto& p : processors_) p->apply(c);
  }
  void accept(token_id t) {
    for (auto& p : processors_) p->accept(t);
    selector_->accept(t);
  }
  void reset() {
    for (auto& p : processors_) p->reset();
    selector_->reset();
  }
  void observe_prompt(std::span<const token_id> prompt) {
    for (auto& p : processors_) p->observe_prompt(prompt);
  }

  /// Number of processors (the selector excluded).
  std::size_t size() const noexcept { return processors_.size(); }
  /// e.g. "top_k=40 -> temperature=0.7 -> categorical".
  std::string describe() const {
    return description_.empty() ? selector_label_ : description_ + " -> " + selector_label_;
  }

 private:
  static const char* known_names() {
    return "temperature, top_k, top_p, min_p, typical, repetition_penalty, frequency_penalty, "
           "presence_penalty, logit_bias, greedy, categorical";
  }
  static logit_bias parse_bias(std::string_view item, std::string_view value) {
    std::vector<std::pair<token_id, float>> bias;
    for (std::size_t start = 0; start <= value.size();) {
      const std::size_t semi = value.find(';', start);
      const std::size_t end = semi == std::string_view::npos ? value.size() : semi;
      const std::string_view pair = detail::trim(value.substr(start, end - start));
      const std::size_t colon = pair.find(':');
      RLHF_EXPECTS(colon != std::string_view::npos, "sampler: logit_bias entry '", pair,
                   "' must be ID:BIAS (entries separated by ';', e.g. logit_bias=50256:-inf;13:2.5)");
      const long long id = detail::parse_integer("logit_bias id", detail::trim(pair.substr(0, colon)), "integer >= 0");
      const double b = detail::parse_number("logit_bias bias", detail::trim(pair.substr(colon + 1)), "finite or -inf");
      RLHF_EXPECTS(id >= 0 && id <= 0x7fffffff, "sampler: logit_bias id ", id, " is outside the allowed range [0, 2^31)");
      bias.emplace_back(static_cast<token_id>(id), static_cast<float>(b));
      if (semi == std::string_view::npos) break;
      start = semi + 1;
    }
    return detail::construct(item, [&] { return logit_bias{std::move(bias)}; });
  }
  void append_description(std::string_view label) {
    if (!description_.empty()) description_ += " -> ";
    description_ += label;
  }

  std::vector<std::unique_ptr<detail::erased_processor>> processors_;
  std::unique_ptr<detail::erased_selector> selector_;
  std::string description_;
  std::string selector_label_ = "categorical";
};
static_assert(rlhf::sampler<any_sampler>);

}  // namespace rlhf::sampling
