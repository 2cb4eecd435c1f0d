// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Crash-safe file output and whole-file input.
///
/// `write_atomically` is the write-to-temporary-then-rename pattern (POSIX rename(2) replaces
/// the target in one step), so an interrupted or failed save never leaves a half-written
/// checkpoint, dataset or results file in place of a good one (DESIGN.md, Conventions).
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>

#if __has_include(<unistd.h>)
#include <cstdio>  // renameat2 (glibc >= 2.28, _GNU_SOURCE, which g++ defines)
#include <fcntl.h>
#include <unistd.h>
#define RLHF_IO_POSIX 1
#else
#define RLHF_IO_POSIX 0
#endif

#include "rlhf/core/error.hpp"

namespace rlhf::io {

namespace detail {

/// A name beside `target` that no other writer (thread or process) picks at the same time.
/// Same directory as the target, so the final rename never crosses a file system.
inline std::filesystem::path temporary_sibling(const std::filesystem::path& target) {
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t pid = 0;
#if RLHF_IO_POSIX
  pid = static_cast<std::uint64_t>(::getpid());
#endif
  const std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  const auto nonce = reinterpret_cast<std::uintptr_t>(&n);  // differs between threads' stacks
  std::ostringstream name;
  name << '.' << target.filename().string() << ".tmp-" << pid << '-' << n << '-' << std::hex
       << (nonce & 0xffffffu);
  return target.parent_path() / name.str();
}

/// Flush the file's data to the device before the rename makes it visible, so a power loss
/// after the rename cannot expose an empty file (the ext4 "zero-length file" problem).
inline bool sync_file(const std::filesystem::path& p) noexcept {
#if RLHF_IO_POSIX
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
#else
  (void)p;
  return true;
#endif
}

inline void remove_quietly(const std::filesystem::path& p) noexcept {
  std::error_code ec;
  std::filesystem::remove(p, ec);
}

}  // namespace detail

namespace detail {
inline void remove_tree_quietly(const std::filesystem::path& p) noexcept {
  std::error_code ec;
  std::filesystem::remove_all(p, ec);
}
/// Names temporary_sibling hands out (skipped when a directory's old entries are carried over).
inline bool is_staging_name(const std::string& name) noexcept {
  return name.starts_with(".") && name.find(".tmp-") != std::string::npos;
}
/// Hard-links the regular files of `src` into `dst` (copies them where links are refused),
/// recreating its directories.
inline void link_or_copy_tree(const std::filesystem::path& src, const std::filesystem::path& dst) {
  std::error_code ec;
  if (std::filesystem::is_directory(src, ec)) {
    std::filesystem::create_directory(dst, ec);
    if (ec) RLHF_THROW(io_error, "cannot create ", dst.string(), ": ", ec.message());
    for (const auto& e : std::filesystem::directory_iterator(src, ec)) link_or_copy_tree(e.path(), dst / e.path().filename());
    if (ec) RLHF_THROW(io_error, "cannot list ", src.string(), ": ", ec.message());
    return;
  }
  std::filesystem::create_hard_link(src, dst, ec);
  if (!ec) return;
  ec.clear();
  std::filesystem::copy_file(src, dst, ec);
  if (ec) RLHF_THROW(io_error, "cannot copy ", src.string(), " to ", dst.string(), ": ", ec.message());
}
/// Makes the entries of a directory durable before it is renamed into place.
inline void sync_directory(const std::filesystem::path& p) noexcept {
#if RLHF_IO_POSIX
  const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
#else
  (void)p;
#endif
}
}  // namespace detail

/// A file written under a temporary name beside `target` and renamed over it by commit().
/// Destroyed without commit() (an exception, an early return), it removes the temporary and
/// `target` is left exactly as it was. For output produced incrementally (one JSONL line per
/// generated prompt); write_atomically below is the one-call form.
class atomic_output_file {
 public:
  explicit atomic_output_file(std::filesystem::path target) : target_(std::move(target)) {
    if (target_.empty()) RLHF_THROW(io_error, "cannot write a file with an empty path; give a file name");
    std::error_code ec;
    if (std::filesystem::is_directory(target_, ec))
      RLHF_THROW(io_error, "cannot write ", target_.string(), ": it is a directory; give a file name");
    tmp_ = detail::temporary_sibling(target_);
    os_.open(tmp_, std::ios::binary | std::ios::trunc);
    if (!os_) {
      const int err = errno;
      RLHF_THROW(io_error, "cannot create ", tmp_.string(), " to write ", target_.string(), ": ",
                 std::strerror(err), "; check that the directory exists and is writable");
    }
  }
  atomic_output_file(const atomic_output_file&) = delete;
  atomic_output_file& operator=(const atomic_output_file&) = delete;
  ~atomic_output_file() {
    if (!committed_) {
      os_.close();
      detail::remove_quietly(tmp_);
    }
  }

  std::ostream& stream() noexcept { return os_; }
  const std::filesystem::path& target() const noexcept { return target_; }

  /// Flushes, checks, syncs and renames the temporary over the target. rlhf::io_error naming
  /// the target on any failure (the temporary is then removed, the target untouched).
  void commit() {
    if (committed_) RLHF_THROW(io_error, target_.string(), ": commit() called twice");
    os_.flush();
    if (!os_) fail("writing ", target_.string(), " failed (disk full or I/O error)");
    os_.close();
    if (os_.fail()) fail("closing ", target_.string(), " failed (disk full or I/O error)");
    if (!detail::sync_file(tmp_)) fail("syncing ", target_.string(), " to disk failed");
    std::error_code ec;
    std::filesystem::rename(tmp_, target_, ec);
    if (ec) fail("cannot rename ", tmp_.string(), " to ", target_.string(), ": ", ec.message());
    committed_ = true;
  }

 private:
  template <class... A>
  [[noreturn]] void fail(const A&... parts) {
    os_.close();
    detail::remove_quietly(tmp_);
    committed_ = true;  // nothing left to clean up
    RLHF_THROW(io_error, parts...);
  }

  std::filesystem::path target_, tmp_;
  std::ofstream os_;
  bool committed_ = false;
};

/// Writes `target` atomically: `write(os)` fills a temporary file in the target's directory,
/// which is flushed, checked, synced and then renamed over `target`. On any failure the
/// temporary is removed and `target` is left exactly as it was.
///
/// Throws rlhf::io_error naming the path when the file cannot be created, written, flushed or
/// renamed. When `write` itself throws, an rlhf::error it raised propagates unchanged (it
/// already names its input); any other exception becomes an rlhf::io_error naming the path.
inline void write_atomically(const std::filesystem::path& target,
                             const std::function<void(std::ostream&)>& write) {
  if (!write) RLHF_THROW(invalid_argument, "write_atomically(", target.string(), "): empty writer function");
  atomic_output_file file(target);
  try {
    write(file.stream());
  } catch (const rlhf::error&) {
    throw;
  } catch (const std::exception& e) {
    RLHF_THROW(io_error, "writing ", target.string(), " failed: ", e.what());
  } catch (...) {
    RLHF_THROW(io_error, "writing ", target.string(), " failed with an unknown exception");
  }
  file.commit();
}

/// The whole content of `path` as bytes. Throws rlhf::io_error naming the path when it is
/// missing, a directory, or unreadable.
inline std::string read_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    RLHF_THROW(io_error, "cannot read ", path.string(), ": no such file; check the path");
  if (std::filesystem::is_directory(status))
    RLHF_THROW(io_error, "cannot read ", path.string(), ": it is a directory; give a file");
  std::ifstream is(path, std::ios::binary);
  if (!is) {
    const int err = errno;
    RLHF_THROW(io_error, "cannot open ", path.string(), ": ", std::strerror(err));
  }
  std::string out;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && std::filesystem::is_regular_file(status)) {
    out.resize(static_cast<std::size_t>(size));
    is.read(out.data(), static_cast<std::streamsize>(out.size()));
    if (static_cast<std::uintmax_t>(is.gcount()) != size)
      RLHF_THROW(io_error, "reading ", path.string(), " failed after ", is.gcount(), " of ", size, " bytes");
  } else {  // a pipe or device: no size known in advance
    std::ostringstream ss;
    ss << is.rdbuf();
    out = std::move(ss).str();
  }
  if (is.bad()) RLHF_THROW(io_error, "reading ", path.string(), " failed (I/O error)");
  return out;
}

// ---- whole directories ----

/// A directory being prepared beside `target` (same parent, so the final rename never crosses a
/// file system) and put in place as a whole by commit(). Destroyed without commit(), it is
/// removed and `target` is left exactly as it was. This is how a model directory or a training
/// checkpoint is saved: a kill at any moment leaves either the complete old or the complete new
/// directory, never a mix of their files.
class staged_directory {
 public:
  /// Creates the staging directory. @throws rlhf::io_error when the parent cannot hold it
  explicit staged_directory(std::filesystem::path target) : target_(std::move(target)) {
    if (target_.filename().empty()) target_ = target_.parent_path();  // "dir/" names "dir"
    std::error_code ec;
    const auto parent = target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
    std::filesystem::create_directories(parent, ec);
    if (ec || !std::filesystem::is_directory(parent))
      RLHF_THROW(io_error, "cannot create the directory ", parent.string(), " for ", target_.string(), ": ",
                 ec ? ec.message() : "a file of that name exists");
    if (std::filesystem::exists(target_, ec) && !std::filesystem::is_directory(target_, ec))
      RLHF_THROW(io_error, "cannot save into ", target_.string(), ": it is a file, not a directory; choose another path");
    path_ = detail::temporary_sibling(target_);
    if (!std::filesystem::create_directory(path_, ec) || ec)
      RLHF_THROW(io_error, "cannot create ", path_.string(), ": ", ec ? ec.message() : "it exists");
  }
  staged_directory(const staged_directory&) = delete;
  staged_directory& operator=(const staged_directory&) = delete;
  ~staged_directory() {
    if (!path_.empty()) detail::remove_tree_quietly(path_);
  }

  /// Where to write the new directory's files.
  const std::filesystem::path& path() const noexcept { return path_; }
  const std::filesystem::path& target() const noexcept { return target_; }

  /// Carries every entry of the existing target that the staged directory does not hold (a
  /// tokenizer beside the weights, earlier checkpoints) into it, as hard links where the file
  /// system allows (no bytes copied) and copies otherwise, so the swap keeps them.
  void keep_existing_files() {
    std::error_code ec;
    if (!std::filesystem::is_directory(target_, ec)) return;
    for (const auto& e : std::filesystem::directory_iterator(target_, ec)) {
      const auto dst = path_ / e.path().filename();
      if (std::filesystem::exists(dst, ec) || detail::is_staging_name(e.path().filename().string())) continue;
      detail::link_or_copy_tree(e.path(), dst);
    }
    if (ec) RLHF_THROW(io_error, "cannot list ", target_.string(), ": ", ec.message());
  }

  /// Puts the staged directory in place of the target in one step: renameat2(RENAME_EXCHANGE)
  /// swaps the two directories atomically on Linux, then the old one is removed; a new target is
  /// one rename. Where the exchange is not supported, the old directory is renamed aside first
  /// and a kill between the two renames leaves it under a ".NAME.tmp-…" name beside the target.
  /// @throws rlhf::io_error when the swap fails (the target is then untouched)
  void commit() {
    std::error_code ec;
    detail::sync_directory(path_);
    if (!std::filesystem::exists(target_, ec)) {
      std::filesystem::rename(path_, target_, ec);
      if (ec) RLHF_THROW(io_error, "cannot move ", path_.string(), " to ", target_.string(), ": ", ec.message());
      path_.clear();
      return;
    }
#if RLHF_IO_POSIX && defined(RENAME_EXCHANGE)
    if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) == 0) {
      detail::remove_tree_quietly(path_);  // now the old directory
      path_.clear();
      return;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
      RLHF_THROW(io_error, "cannot replace ", target_.string(), ": ", std::strerror(errno));
#endif
    const auto old = detail::temporary_sibling(target_);
    std::filesystem::rename(target_, old, ec);
    if (ec) RLHF_THROW(io_error, "cannot move ", target_.string(), " aside: ", ec.message());
    std::filesystem::rename(path_, target_, ec);
    if (ec) {
      std::error_code back;
      std::filesystem::rename(old, target_, back);
      RLHF_THROW(io_error, "cannot move ", path_.string(), " to ", target_.string(), ": ", ec.message());
    }
    path_.clear();
    detail::remove_tree_quietly(old);
  }

 private:
  std::filesystem::path target_, path_;
};

}  // namespace rlhf::io
