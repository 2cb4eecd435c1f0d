// SPDX-License-Identifier: MIT
#pragma once
// IWYU pragma: private
/// @file
/// Line numbers inside a JSON document, for error messages that point at the line to fix.
/// nlohmann::json keeps no positions in a parsed value, so the line of a key is found by a
/// second, SAX-only pass over the text: only on the error path, never when the file is good.
#include <algorithm>
#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace rlhf::io::detail {

/// 1-based line of byte `offset` (0-based) of `text`.
inline std::size_t line_of_offset(std::string_view text, std::size_t offset) {
  const auto end = text.begin() + static_cast<std::ptrdiff_t>(std::min(offset, text.size()));
  return 1 + static_cast<std::size_t>(std::count(text.begin(), end, '\n'));
}

/// 1-based line of nlohmann's parse error `e` in `text` (e.byte counts the bytes read, the
/// offending one included).
inline std::size_t line_of(std::string_view text, const nlohmann::json::parse_error& e) {
  return line_of_offset(text, e.byte == 0 ? 0 : e.byte - 1);
}

/// A char iterator that counts the newlines it steps over, so a SAX callback knows the line of
/// the token just read.
class line_counting_iterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  line_counting_iterator() = default;
  line_counting_iterator(const char* p, std::size_t* newlines) : p_(p), newlines_(newlines) {}
  reference operator*() const { return *p_; }
  line_counting_iterator& operator++() {
    if (*p_ == '\n') ++*newlines_;
    ++p_;
    return *this;
  }
  line_counting_iterator operator++(int) {
    auto old = *this;
    ++*this;
    return old;
  }
  friend bool operator==(const line_counting_iterator& a, const line_counting_iterator& b) { return a.p_ == b.p_; }

 private:
  const char* p_ = nullptr;
  std::size_t* newlines_ = nullptr;
};

/// 1-based line of the key `key` of the top-level object in `text` (the first occurrence),
/// or 0 if the text has no such key or is not valid JSON up to it.
inline std::size_t json_key_line(std::string_view text, std::string_view key) {
  struct finder : nlohmann::json_sax<nlohmann::json> {
    std::string_view target;
    const std::size_t* newlines = nullptr;
    std::size_t found = 0;
    int depth = 0;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return enter(); }
    bool end_object() override { return leave(); }
    bool start_array(std::size_t) override { return enter(); }
    bool end_array() override { return leave(); }
    bool key(string_t& k) override {
      if (depth != 1 || k != target) return true;
      found = 1 + *newlines;  // the lexer has just read the key's closing quote
      return false;           // stop: the line is known
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
    bool enter() {
      ++depth;
      return true;
    }
    bool leave() {
      --depth;
      return true;
    }
  };
  std::size_t newlines = 0;
  finder f;
  f.target = key;
  f.newlines = &newlines;
  nlohmann::json::sax_parse(line_counting_iterator(text.data(), &newlines),
                            line_counting_iterator(text.data() + text.size(), &newlines), &f);
  return f.found;
}

}  // namespace rlhf::io::detail
