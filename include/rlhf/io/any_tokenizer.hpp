// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A type-erased tokenizer, for the configuration boundary (a model directory read at run
/// time decides between byte-level and GPT-2 BPE); hot loops take a concrete `tokenizer`.
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rlhf/io/byte_tokenizer.hpp"
#include "rlhf/io/tokenizer.hpp"

namespace rlhf::io {

/// Holds any `tokenizer` by value (shared, immutable state; cheap to copy) and forwards to it.
/// Default-constructed it is a byte_tokenizer.
class any_tokenizer {
 public:
  using rlhf_concept = tokenizer_tag;

  any_tokenizer() : any_tokenizer(byte_tokenizer{}) {}
  template <class T>
    requires(tokenizer<T> && !std::is_same_v<std::remove_cvref_t<T>, any_tokenizer>)
  any_tokenizer(T t)  // NOLINT(google-explicit-constructor): a value of any tokenizer type is one
      : impl_(std::make_shared<model<T>>(std::move(t))) {}

  std::vector<token_id> encode(std::string_view text) const { return impl_->encode(text); }
  std::string decode(std::span<const token_id> ids) const { return impl_->decode(ids); }
  index_t vocab_size() const { return impl_->vocab_size(); }
  token_id eos_id() const { return impl_->eos_id(); }
  std::string token_text(token_id id) const { return impl_->token_text(id); }
  /// The held tokenizer if it is a T, else nullptr.
  template <class T>
  const T* target() const noexcept {
    const auto* m = dynamic_cast<const model<T>*>(impl_.get());
    return m ? &m->value : nullptr;
  }

 private:
  struct concept_base {
    virtual ~concept_base() = default;
    virtual std::vector<token_id> encode(std::string_view) const = 0;
    virtual std::string decode(std::span<const token_id>) const = 0;
    virtual index_t vocab_size() const = 0;
    virtual token_id eos_id() const = 0;
    virtual std::string token_text(token_id) const = 0;
  };
  template <class T>
  struct model final : concept_base {
    explicit model(T v) : value(std::move(v)) {}
    std::vector<token_id> encode(std::string_view s) const override { return value.encode(s); }
    std::string decode(std::span<const token_id> ids) const override { return value.decode(ids); }
    index_t vocab_size() const override { return static_cast<index_t>(value.vocab_size()); }
    token_id eos_id() const override { return static_cast<token_id>(value.eos_id()); }
    std::string token_text(token_id id) const override { return value.token_text(id); }
    T value;
  };
  std::shared_ptr<const concept_base> impl_;
};
static_assert(tokenizer<any_tokenizer>);

}  // namespace rlhf::io
