// SPDX-License-Identifier: MIT
#pragma once
// Command-line options of the rlhf program: declared once per subcommand with their help
// text and allowed range, so parsing, validation and --help come from one table.
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <rlhf/core/error.hpp>

namespace rlhf::cli {

/// A usage error: the program prints the message on one line and exits with status 2.
class usage_error : public rlhf::invalid_argument {
 public:
  using rlhf::invalid_argument::invalid_argument;
};

struct option_spec {
  std::string name;     // without the leading "--"
  std::string meta;     // e.g. "DIR", "N", "" for a flag
  std::string help;
  std::string fallback; // default value as text ("" = none)
  bool required = false;
};

/// Parsed options of one subcommand.
class options {
 public:
  options(std::string command, std::vector<option_spec> specs)
      : command_(std::move(command)), specs_(std::move(specs)) {
    specs_.push_back({"help", "", "print this help and exit", "", false});
  }

  /// Parses argv[first..]; throws usage_error on unknown options or missing values.
  void parse(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0)
        throw usage_error("rlhf " + command_ + ": unexpected argument '" + a + "' (options start with --; see --help)");
      a = a.substr(2);
      std::string value;
      bool has_value = false;
      if (auto eq = a.find('='); eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_value = true;
      }
      const option_spec* spec = find(a);
      if (!spec) throw usage_error("rlhf " + command_ + ": unknown option --" + a + " (see rlhf " + command_ + " --help)");
      if (spec->meta.empty()) {
        if (has_value) throw usage_error("rlhf " + command_ + ": --" + a + " takes no value");
        values_[a] = "1";
        continue;
      }
      if (!has_value) {
        if (i + 1 >= argc) throw usage_error("rlhf " + command_ + ": --" + a + " needs a value " + spec->meta);
        value = argv[++i];
      }
      values_[a] = value;
    }
    if (flag("help")) return;
    for (const auto& s : specs_)
      if (s.required && !values_.count(s.name))
        throw usage_error("rlhf " + command_ + ": --" + s.name + " " + s.meta + " is required (" + s.help + ")");
  }

  bool flag(const std::string& name) const { return values_.count(name) != 0; }
  bool has(const std::string& name) const { return values_.count(name) != 0 || !spec(name).fallback.empty(); }

  std::string str(const std::string& name) const {
    if (auto it = values_.find(name); it != values_.end()) return it->second;
    return spec(name).fallback;
  }
  /// Integer option within [lo, hi]; the message names the option and the range.
  std::int64_t integer(const std::string& name, std::int64_t lo, std::int64_t hi) const {
    const std::string s = str(name);
    std::size_t pos = 0;
    long long v = 0;
    try {
      v = std::stoll(s, &pos);
    } catch (...) {
      pos = 0;
    }
    if (s.empty() || pos != s.size())
      throw usage_error("rlhf " + command_ + ": --" + name + " must be an integer (got '" + s + "')");
    if (v < lo || v > hi)
      throw usage_error("rlhf " + command_ + ": --" + name + " must be in [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "] (got " + s + ")");
    return v;
  }
  /// Real option within [lo, hi] (finite); `open_lo` excludes lo.
  double real(const std::string& name, double lo, double hi, bool open_lo = false) const {
    const std::string s = str(name);
    std::size_t pos = 0;
    double v = 0;
    try {
      v = std::stod(s, &pos);
    } catch (...) {
      pos = 0;
    }
    if (s.empty() || pos != s.size() || !std::isfinite(v))
      throw usage_error("rlhf " + command_ + ": --" + name + " must be a finite number (got '" + s + "')");
    if (v < lo || v > hi || (open_lo && v == lo))
      throw usage_error("rlhf " + command_ + ": --" + name + " must be in " + (open_lo ? "(" : "[") +
                        trim(lo) + ", " + trim(hi) + "] (got " + s + ")");
    return v;
  }
  /// One of a fixed set of words.
  std::string choice(const std::string& name, const std::vector<std::string>& allowed) const {
    const std::string s = str(name);
    for (const auto& a : allowed)
      if (a == s) return s;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : "|") + a;
    throw usage_error("rlhf " + command_ + ": --" + name + " must be one of " + list + " (got '" + s + "')");
  }

  std::string help(const std::string& summary) const {
    std::string h = "usage: rlhf " + command_ + " [options]\n" + summary + "\n\noptions:\n";
    for (const auto& s : specs_) {
      std::string left = "  --" + s.name + (s.meta.empty() ? "" : " " + s.meta);
      if (left.size() < 30) left.resize(30, ' ');
      h += left + " " + s.help;
      if (!s.fallback.empty()) h += " (default " + s.fallback + ")";
      if (s.required) h += " (required)";
      h += "\n";
    }
    return h;
  }

 private:
  static std::string trim(double v) {
    std::string s = std::to_string(v);
    while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.')) {
      const bool dot = s.back() == '.';
      s.pop_back();
      if (dot) break;
    }
    return s;
  }
  const option_spec* find(const std::string& n) const {
    for (const auto& s : specs_)
      if (s.name == n) return &s;
    return nullptr;
  }
  const option_spec& spec(const std::string& n) const {
    const option_spec* s = find(n);
    RLHF_ASSERT(s != nullptr, "option --", n, " was not declared");
    return *s;
  }
  std::string command_;
  std::vector<option_spec> specs_;
  std::map<std::string, std::string> values_;
};

}  // namespace rlhf::cli
