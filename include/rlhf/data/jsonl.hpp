// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// JSON Lines (https://jsonlines.org): one JSON object per line. Reading reports
/// "FILE:LINE: problem; fix" and skips blank lines; writing is atomic.
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "rlhf/core/error.hpp"
#include "rlhf/core/limits.hpp"
#include "rlhf/io/atomic_file.hpp"

namespace rlhf::data {

/// Where a record came from, for error messages: "FILE:LINE".
struct source_location {
  std::string file;
  std::size_t line = 0;
  std::string str() const { return file + ":" + std::to_string(line); }
};

/// Throws rlhf::format_error "FILE:LINE: parts..." (the parts should say what is wrong and
/// what to do).
template <class... A>
[[noreturn]] void fail_at(const source_location& where, const A&... parts) {
  RLHF_THROW(format_error, where.str(), ": ", parts...);
}

namespace detail {
/// Called inside a handler of `e`: rethrows it, with `at` in front of its message unless the
/// message starts so already.
template <class E>
[[noreturn]] void rethrow_prefixed(const E& e, const std::string& at) {
  if (std::string_view(e.what()).starts_with(at)) throw;
  throw E(at + e.what());
}

/// Rethrows the exception in flight from a record's callback with "FILE:LINE: " in front, so
/// every error about a record names its line (fail_at messages already do and pass unchanged).
/// The rlhf::error type is kept; a nlohmann::json exception (a field read as the wrong type)
/// becomes rlhf::format_error; anything else is not about the file and passes unchanged.
[[noreturn]] inline void rethrow_at(const source_location& where) {
  const std::string at = where.str() + ": ";
  try {
    throw;
  } catch (const format_error& e) {
    rethrow_prefixed(e, at);
  } catch (const invalid_argument& e) {
    rethrow_prefixed(e, at);
  } catch (const numerical_error& e) {
    rethrow_prefixed(e, at);
  } catch (const io_error& e) {
    rethrow_prefixed(e, at);
  } catch (const nlohmann::json::exception& e) {
    throw format_error(at + e.what() + "; check the record's fields and their types");
  }
}

/// Reads the next line of `is` into `line` (without its '\n'), counting it in where.line;
/// false at the end of the file. A line longer than `max` bytes is an rlhf::format_error naming
/// it, raised once `max` bytes are read: the line is never held whole.
inline bool read_bounded_line(std::istream& is, std::string& line, std::uint64_t max, source_location& where) {
  line.clear();
  std::streambuf* sb = is.rdbuf();
  bool any = false;
  for (;;) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) return any;  // a last line without '\n' was counted at its first byte
    if (!any) {
      ++where.line;
      any = true;
    }
    if (c == '\n') return true;
    if (line.size() >= max)
      fail_at(where, "a line longer than ", max, " bytes (the limit; RLHF_MAX_JSONL_LINE raises it); "
              "each line must be one JSON record");
    line.push_back(static_cast<char>(c));
  }
}
}  // namespace detail

/// Calls `fn(record, where)` for each non-blank line of the JSONL file `path`, in file order,
/// with where.line the 1-based line number. A line that is not a JSON object is an
/// rlhf::format_error naming the file and line. Every error `fn` raises about the record
/// (rlhf::format_error, invalid_argument, numerical_error, io_error) is prefixed with
/// "FILE:LINE: " unless its message starts so already, and keeps its type; a nlohmann::json
/// exception from `fn` becomes a format_error so prefixed. A missing file is an
/// rlhf::io_error. CRLF line ends and a UTF-8 byte-order mark are accepted. A line longer
/// than limits::max_jsonl_line() or nested deeper than limits::max_json_depth() is a
/// format_error naming it (core/limits.hpp).
/// Returns the number of records.
inline std::size_t for_each_jsonl(const std::filesystem::path& path,
                                  const std::function<void(const nlohmann::json&, const source_location&)>& fn) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    RLHF_THROW(io_error, "cannot read ", path.string(), ": no such file; check the path");
  std::ifstream is(path, std::ios::binary);
  if (!is) RLHF_THROW(io_error, "cannot open ", path.string());
  source_location where{path.string(), 0};
  std::string line;
  std::size_t records = 0;
  const std::uint64_t max_line = limits::max_jsonl_line(), max_depth = limits::max_json_depth();
  while (detail::read_bounded_line(is, line, max_line, where)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string_view text = line;
    if (where.line == 1 && text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
    if (text.find_first_not_of(" \t\f\v") == std::string_view::npos) continue;
    if (limits::json_depth(text, max_depth) > max_depth)
      fail_at(where, "JSON nested deeper than ", max_depth, " levels (the limit; RLHF_MAX_JSON_DEPTH raises it); "
              "a record is an object of strings, numbers and arrays of them");
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail_at(where, "invalid JSON (", e.what(), "); each line must be one JSON object");
    }
    if (!record.is_object())
      fail_at(where, "a JSON ", record.type_name(), " where an object is required; each line must be one JSON object");
    try {
      fn(record, where);
    } catch (...) {
      detail::rethrow_at(where);
    }
    ++records;
  }
  if (is.bad()) RLHF_THROW(io_error, where.str(), ": reading failed after this line; check the disk or the file");
  return records;
}

/// One compact JSON line (no newline). Bytes that are not valid UTF-8 (a byte-level model can
/// generate them) become U+FFFD instead of failing the whole file: JSON text must be UTF-8,
/// and the exact bytes stay recoverable from the token ids written beside the text.
inline std::string to_jsonl_line(const nlohmann::json& record) {
  return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// Writes one compact JSON value per line to `path`, atomically (a reader never sees a
/// half-written file).
inline void write_jsonl(const std::filesystem::path& path, std::span<const nlohmann::json> records) {
  io::write_atomically(path, [&](std::ostream& os) {
    for (const nlohmann::json& r : records) os << to_jsonl_line(r) << '\n';
  });
}

/// Streams records to a JSONL file that appears, complete, only on commit(); destroyed
/// without commit() (an error mid-way) it leaves any existing file untouched.
class jsonl_writer {
 public:
  explicit jsonl_writer(std::filesystem::path path) : file_(std::move(path)) {}
  void write(const nlohmann::json& record) { write_line(to_jsonl_line(record)); }
  /// A record already made a line by to_jsonl_line (e.g. gathered from other processes).
  void write_line(std::string_view line) {
    file_.stream() << line << '\n';
    ++count_;
  }
  /// Records written so far.
  std::size_t size() const noexcept { return count_; }
  /// Makes the file visible under its name (rlhf::io_error on failure).
  void commit() { file_.commit(); }

 private:
  io::atomic_output_file file_;
  std::size_t count_ = 0;
};

}  // namespace rlhf::data
