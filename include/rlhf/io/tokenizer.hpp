// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The `tokenizer` concept (DESIGN.md role "Tokenizer"): text <-> token ids.
#include <concepts>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "rlhf/core/view.hpp"

namespace rlhf {

/// Opt-in tag: a type declares `using rlhf_concept = rlhf::tokenizer_tag;` to promise the
/// semantic requirements of `tokenizer` below.
struct tokenizer_tag {};

/// True when T declares `using rlhf_concept = rlhf::tokenizer_tag;` (or a tag derived from it).
template <class T>
concept declares_tokenizer = requires { typename T::rlhf_concept; } &&
                             std::derived_from<typename T::rlhf_concept, tokenizer_tag>;

/// Specialise to true to opt a third-party type into `tokenizer` without editing it.
template <class T>
inline constexpr bool enable_tokenizer = declares_tokenizer<T>;

/// @concept tokenizer
/// Maps text to token ids and back.
///
/// Syntactic requirements (checked):
///   - `t.encode(text)` -> std::vector<token_id>, every id in [0, vocab_size())
///   - `t.decode(ids)` -> std::string (rlhf::invalid_argument for an id outside the vocabulary)
///   - `t.vocab_size()` -> index_t, `t.eos_id()` -> token_id, `t.token_text(id)` -> std::string
/// Semantic requirements (promised by opting in, tested for every shipped model):
///   - decode(encode(x)) == x for every byte string x (valid UTF-8 or not);
///   - encode never emits eos_id() for ordinary text: EOS is only appended by the data loaders;
///   - the member functions are const and safe to call from several threads at once.
/// Models: rlhf::io::byte_tokenizer, rlhf::io::gpt2_tokenizer, rlhf::io::any_tokenizer, and
/// rlhf::io::no_tokenizer (ids only: it meets the syntax, but encoding text is an
/// rlhf::invalid_argument, so the round-trip promise holds vacuously).
template <class T>
concept tokenizer = enable_tokenizer<std::remove_cvref_t<T>> &&
                    requires(const T& t, std::string_view text, std::span<const token_id> ids, token_id id) {
                      { t.encode(text) } -> std::same_as<std::vector<token_id>>;
                      { t.decode(ids) } -> std::same_as<std::string>;
                      { t.vocab_size() } -> std::convertible_to<index_t>;
                      { t.eos_id() } -> std::convertible_to<token_id>;
                      { t.token_text(id) } -> std::convertible_to<std::string>;
                    };

}  // namespace rlhf
