// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A progress line on stderr (done/total, rate, ETA, a caller's note), drawn only when stderr is
/// a terminal, so logs and pipes stay clean. Used by the training loop and by the rlhf program.
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

#if __has_include(<unistd.h>)
#include <unistd.h>
#define RLHF_PROGRESS_TTY(f) (::isatty(::fileno(f)) != 0)
#else
#define RLHF_PROGRESS_TTY(f) false
#endif

namespace rlhf::train {

/// See the file comment. `enabled = false` draws nothing whatever stderr is.
class progress_bar {
 public:
  explicit progress_bar(std::string what, long total, bool enabled = true)
      : what_(std::move(what)), total_(total), tty_(enabled && RLHF_PROGRESS_TTY(stderr)),
        start_(std::chrono::steady_clock::now()) {}
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;
  ~progress_bar() { finish(); }

  /// Redraws the line after `done` of total units (`first` = units already done before this
  /// bar started, e.g. on resume, so the rate counts only this run's work).
  void update(long done, const std::string& note = "", long first = 0) {
    if (!tty_) return;
    const double s = seconds();
    const double rate = s > 0 ? static_cast<double>(done - first) / s : 0;
    const double eta = rate > 0 && total_ > 0 ? static_cast<double>(total_ - done) / rate : 0;
    std::fprintf(stderr, "\r%s %ld/%ld  %.1f/s  ETA %.0fs  %s\033[K", what_.c_str(), done, total_, rate, eta,
                 note.c_str());
    std::fflush(stderr);
    drawn_ = true;
  }
  /// Ends the line (once).
  void finish() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  std::string what_;
  long total_;
  bool tty_, drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace rlhf::train
