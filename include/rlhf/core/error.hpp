// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The rlhf::error hierarchy and the contract macros.
///
/// Three kinds of failure (house style §8.8):
///  - bad user input or environment (files, options, token ids): an rlhf::error subclass whose
///    message names the input and the fix;
///  - programmer errors inside the library: RLHF_ASSERT (internal invariants only);
///  - numerical outcomes (a NaN loss, a KL above target) are reported in return values, except
///    where a NaN makes the result meaningless, which is rlhf::numerical_error.
#include <sstream>
#include <stdexcept>
#include <string>

namespace rlhf {

/// Base of every exception the library throws on purpose.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// An argument or option outside its allowed range, a shape mismatch, a token id >= vocabulary.
class invalid_argument : public error {
 public:
  using error::error;
};
/// A file could not be opened, read, written or renamed.
class io_error : public error {
 public:
  using error::error;
};
/// A file was read but its content is malformed (bad JSON, truncated safetensors, ...).
class format_error : public error {
 public:
  using error::error;
};
/// A computation produced NaN/inf where a finite value is required.
class numerical_error : public error {
 public:
  using error::error;
};
/// An internal invariant was violated: a bug in rlhf, never the user's input.
class internal_error : public error {
 public:
  using error::error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
template <class E, class... Args>
[[noreturn]] void throw_error(const Args&... args) {
  throw E(concat(args...));
}
[[noreturn]] inline void assertion_failed(const char* cond, const char* file, int line,
                                          const std::string& msg) {
  throw internal_error(concat("rlhf internal error: ", cond, " failed at ", file, ":", line,
                              msg.empty() ? "" : ": ", msg,
                              " (this is a bug in rlhf; please report it)"));
}
}  // namespace detail
}  // namespace rlhf

/// Throw `type` (an rlhf::error subclass) with the streamed arguments as its message.
#define RLHF_THROW(type, ...) ::rlhf::detail::throw_error<type>(__VA_ARGS__)

/// Always-on precondition on user input: throws rlhf::invalid_argument naming the input.
#define RLHF_EXPECTS(cond, ...)                                  \
  do {                                                           \
    if (!(cond)) [[unlikely]]                                    \
      ::rlhf::detail::throw_error<::rlhf::invalid_argument>(__VA_ARGS__); \
  } while (0)

/// Internal invariant (cheap, always on). A failure is a bug in rlhf.
#define RLHF_ASSERT(cond, ...)                                                        \
  do {                                                                                \
    if (!(cond)) [[unlikely]]                                                         \
      ::rlhf::detail::assertion_failed(#cond, __FILE__, __LINE__,                     \
                                       ::rlhf::detail::concat("" __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)

/// O(n) invariant, on when RLHF_ENABLE_ASSERT is defined (Debug builds and tests).
#ifdef RLHF_ENABLE_ASSERT
#define RLHF_DEBUG_ASSERT(cond, ...) RLHF_ASSERT(cond __VA_OPT__(, ) __VA_ARGS__)
#else
#define RLHF_DEBUG_ASSERT(cond, ...) ((void)0)
#endif
