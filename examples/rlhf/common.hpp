// SPDX-License-Identifier: MIT
#pragma once
// Run-time pieces every subcommand of the rlhf program shares: the usage error, range checks
// worded like the command line's, output paths checked before any work, progress on stderr,
// JSON lines on stdout. Nothing here needs the command-line parser (cli.hpp), so run_xxx code
// called without argv (the pipeline) uses the same checks and messages.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <rlhf/core/error.hpp>
#include <rlhf/dist/world.hpp>
#include <rlhf/train/progress.hpp>

namespace rlhf::cli {

/// Bad options or paths: the program prints "rlhf <command>: <message>" on one line and exits
/// with status 2. The message never names the command (the caller adds it once).
class usage_error : public rlhf::invalid_argument {
 public:
  using rlhf::invalid_argument::invalid_argument;
};

/// A number as the messages show it: integers exactly, reals in the shortest usual form.
template <class T>
std::string number_text(T v) {
  if constexpr (std::is_integral_v<T>) {
    return std::to_string(v);
  } else {
    std::ostringstream s;
    s << v;
    return s.str();
  }
}

/// "[lo - hi]", "(lo - hi]" when `open_lo`; a type's largest value shows as "inf)".
template <class T>
std::string range_text(T lo, T hi, bool open_lo = false) {
  const bool unbounded = hi == std::numeric_limits<T>::max();
  return std::string(open_lo ? "(" : "[") + number_text(lo) + " - " + (unbounded ? "inf)" : number_text(hi) + "]");
}

/// Throws usage_error "--name: value V not in range [lo - hi]" (the words of the parse-time
/// checks) unless lo <= v <= hi; for limits only known at run time, e.g. the model's n_positions.
template <class T>
void check_range(std::string_view option, T v, T lo, T hi, std::string_view why = {}) {
  if (v >= lo && v <= hi) return;
  std::string m = std::string(option) + ": value " + number_text(v) + " not in range " + range_text(lo, hi);
  if (!why.empty()) m += " (" + std::string(why) + ")";
  throw usage_error(m);
}

/// An output directory (option `option`, e.g. --out) created before any work is done, so that a
/// path that cannot be a directory (under a regular file, on a read-only or virtual file system)
/// is reported at once with status 2, not after training. If the run fails before keep(), the
/// directories it created are removed again (when still empty): a failed run leaves no trace.
/// Whether this process writes the command's outputs: always for one process; under mpirun
/// (data-parallel sft, reward, dpo) rank 0 only, the others hold the same model.
inline bool writes_outputs() { return rlhf::dist::world().is_root(); }

class output_directory {
 public:
  explicit output_directory(std::filesystem::path dir, std::string_view option = "--out") : dir_(std::move(dir)) {
    if (!writes_outputs()) return;  // rank 0 of a data-parallel run creates and fills it
    std::error_code ec;
    for (auto p = dir_; !p.empty() && !std::filesystem::exists(p, ec); p = p.parent_path()) {
      created_.push_back(p);
      if (p == p.parent_path()) break;
    }
    std::filesystem::create_directories(dir_, ec);
    if (!ec && std::filesystem::is_directory(dir_, ec)) return;
    const std::string why = ec ? ec.message() : "it exists and is not a directory";
    remove_created();
    throw usage_error(std::string(option) + " " + dir_.string() + ": cannot create the directory (" + why + ")");
  }
  output_directory(const output_directory&) = delete;
  output_directory& operator=(const output_directory&) = delete;
  ~output_directory() {
    if (!kept_) remove_created();
  }
  /// The run succeeded: the directory stays.
  void keep() noexcept { kept_ = true; }
  const std::filesystem::path& path() const noexcept { return dir_; }

 private:
  void remove_created() noexcept {
    std::error_code ec;
    for (const auto& p : created_) std::filesystem::remove(p, ec);  // deepest first; only if empty
  }
  std::filesystem::path dir_;
  std::vector<std::filesystem::path> created_;
  bool kept_ = false;
};

/// Checks, before any work is done, that output file `file` (option `option`) can be created:
/// its directory exists. The file itself is written under a temporary name and renamed.
inline void check_output_file(const std::filesystem::path& file, std::string_view option = "--out") {
  const std::filesystem::path dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    throw usage_error(std::string(option) + " " + file.string() + ": is a directory; give a file name");
  if (!std::filesystem::is_directory(dir, ec))
    throw usage_error(std::string(option) + " " + file.string() + ": directory " + dir.string() +
                      " does not exist (create it first)");
}

/// The progress line of every command: the library's (rate and ETA, only on a terminal).
using progress = rlhf::train::progress_bar;

inline void print_json_line(const nlohmann::json& j) {
  std::fputs((j.dump() + "\n").c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace rlhf::cli
