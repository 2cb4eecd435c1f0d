// SPDX-License-Identifier: MIT
#pragma once
// IWYU pragma: private
/// @file
/// What a transformer and its decode sessions share: the config, the parameter table and the
/// parameter arena. The arena is held by shared ownership, so a session neither points at the
/// model object (which may move) nor outlives the weights it reads; an optimizer's in-place
/// updates are seen by every holder (a session re-prefills after an update to use them).
#include <cstddef>
#include <memory>
#include <optional>

#include "rlhf/backend/backend.hpp"
#include "rlhf/core/view.hpp"
#include "rlhf/model/gpt2_config.hpp"
#include "rlhf/model/transformer/block.hpp"
#include "rlhf/model/transformer/parameter_table.hpp"

namespace rlhf::detail {

/// A backend buffer that grows to the largest size asked for and is reused below it, so the
/// steady state of training and decoding allocates nothing.
template <class Backend, class T>
class growable {
 public:
  using space = typename Backend::space;
  view<T, space> get(shape s) {
    if (!buf_ || buf_->size() < s.size()) buf_.emplace(shape{s.size()});
    return view<T, space>(buf_->view().data(), s);
  }
  /// Elements held (0 before the first get).
  index_t capacity() const noexcept { return buf_ ? buf_->size() : 0; }

 private:
  std::optional<typename Backend::template buffer<T>> buf_;
};

/// Hands out consecutive views of one arena; a first pass with no base only counts.
template <class T, class Space>
struct carver {
  T* base = nullptr;
  index_t used = 0;
  view<T, Space> operator()(shape s) {
    // 16-element alignment keeps every tensor on a 64-byte line for the SIMD kernels.
    view<T, Space> v(base == nullptr ? nullptr : base + used, s);
    used += (s.size() + 15) / 16 * 16;
    return v;
  }
};

/// Lays out the views that `carve(carver&)` asks for in ONE arena: a counting pass sizes it,
/// the arena grows if needed, a second pass hands out the real views.
template <class Backend, class T, class Carve>
void carve_arena(growable<Backend, T>& arena, Carve&& carve) {
  carver<T, typename Backend::space> count;
  carve(count);
  carver<T, typename Backend::space> real{arena.get({count.used}).data(), 0};
  carve(real);
}

/// Config, table and shared parameter arena of a GPT-2 transformer, with read-only views of
/// its tensors.
template <class Backend, class T>
struct gpt2_weights {
  using space = typename Backend::space;
  using cview = view<const T, space>;
  using buffer = typename Backend::template buffer<T>;

  gpt2_config config;
  std::shared_ptr<const parameter_table> table;
  std::shared_ptr<buffer> params;

  cview tensor(std::size_t i) const {
    const auto& e = table->entries[i];
    return cview(params->view().data() + e.offset, e.extents);
  }
  block_weights<Backend, T> block(index_t l) const {
    const auto& s = table->blocks[static_cast<std::size_t>(l)];
    return {tensor(s.ln1_w), tensor(s.ln1_b), tensor(s.attn_w), tensor(s.attn_b),
            tensor(s.attn_proj_w), tensor(s.attn_proj_b), tensor(s.ln2_w), tensor(s.ln2_b),
            tensor(s.fc_w), tensor(s.fc_b), tensor(s.fc_proj_w), tensor(s.fc_proj_b)};
  }
  /// The head's own tensors, flat, in table order (empty for heads tied to wte).
  cview head_params() const {
    return cview(params->view().data() + table->head_offset(), {table->head_size()});
  }
};

}  // namespace rlhf::detail
