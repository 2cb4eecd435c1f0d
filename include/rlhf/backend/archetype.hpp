// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// `rlhf::backend::archetype`: the smallest type that models `compute_backend` — every kernel
/// declared, none defined, in a memory space of its own. Model headers check their concepts
/// against it (`static_assert(language_model<transformer<backend::archetype, lm_head>>)`), so a
/// model header includes no concrete backend, and the check proves the model uses nothing
/// beyond the concept. Never call it: a program that does fails to link.
#include <cstdint>
#include <span>
#include <string_view>

#include "rlhf/backend/backend.hpp"
#include "rlhf/core/view.hpp"

namespace rlhf::backend {

/// The archetype's memory space (distinct from host_space: no host access is implied).
struct archetype_space {};

/// A compute_backend with declarations only (see the file comment).
struct archetype {
  using space = archetype_space;
  template <class T>
  class buffer {
   public:
    explicit buffer(shape s);
    rlhf::view<T, space> view();
    rlhf::view<const T, space> view() const;
    index_t size() const;
    shape extents() const;
  };
  template <class T>
  using out = view<T, space>;
  template <class T>
  using in = std::type_identity_t<view<const T, space>>;
  using idx = view<const std::int32_t, space>;
  template <class T>
  using scalar = std::type_identity_t<T>;

  static constexpr std::string_view name() noexcept { return "archetype"; }
  static void set_num_threads(int);
  static int num_threads();

  template <class T> static void fill(out<T>, scalar<T>);
  template <class T> static void copy(out<T>, in<T>);
  template <class T> static void axpy(out<T>, scalar<T>, in<T>);
  template <class T> static void scale(out<T>, scalar<T>);
  template <class T> static void add(out<T>, in<T>, in<T>);
  template <class T> static double sum(view<const T, space>);
  template <class T> static double sum_squares(view<const T, space>);
  template <class T> static void to_host(std::span<T>, view<const T, space>);
  template <class T> static void from_host(out<T>, std::span<const std::type_identity_t<T>>);
  template <class T> static void matmul_forward(out<T>, in<T>, in<T>, in<T>, bool);
  template <class T> static void matmul_backward(out<T>, out<T>, out<T>, in<T>, in<T>, in<T>, bool);
  template <class T> static void layernorm_forward(out<T>, out<T>, out<T>, in<T>, in<T>, in<T>, scalar<T>);
  template <class T> static void layernorm_backward(out<T>, out<T>, out<T>, in<T>, in<T>, in<T>, in<T>, in<T>);
  template <class T> static void gelu_forward(out<T>, in<T>);
  template <class T> static void gelu_backward(out<T>, in<T>, in<T>);
  template <class T> static void softmax_forward(out<T>, in<T>);
  template <class T> static void softmax_backward(out<T>, in<T>, in<T>);
  template <class T> static void log_softmax_forward(out<T>, in<T>);
  template <class T> static void log_softmax_backward(out<T>, in<T>, in<T>);
  template <class T> static void logsumexp_forward(out<T>, in<T>);
  template <class T> static void logsumexp_backward(out<T>, in<T>, in<T>, in<T>);
  template <class T> static void cross_entropy_forward(out<T>, out<T>, in<T>, idx);
  template <class T> static void cross_entropy_backward(out<T>, in<T>, in<T>, in<T>, idx);
  template <class T> static void embedding_forward(out<T>, in<T>, in<T>, idx, idx);
  template <class T> static void embedding_backward(out<T>, out<T>, in<T>, idx, idx);
  template <class T> static void split_qkv(out<T>, out<T>, out<T>, in<T>);
  template <class T> static void split_qkv_backward(out<T>, in<T>, in<T>, in<T>);
  template <class T> static void attention_forward(out<T>, out<T>, in<T>, in<T>, in<T>, in<T>, in<T>, idx, idx, int);
  template <class T> static void attention_backward(out<T>, out<T>, out<T>, in<T>, in<T>, in<T>, in<T>, in<T>, int);
  template <class T> static void kv_write(out<T>, in<T>, idx, idx, idx);
  template <class T> static void gather_rows(out<T>, in<T>, idx);
  template <class T> static void scatter_add_rows(out<T>, in<T>, idx);
  template <class T> static void pick_forward(out<T>, in<T>, idx);
  template <class T> static void pick_backward(out<T>, in<T>, idx);
  template <class T> static void row_max_forward(out<T>, view<std::int32_t, space>, in<T>);
  template <class T>
  static void adamw_update(out<T>, in<T>, out<T>, out<T>, scalar<T>, scalar<T>, scalar<T>, scalar<T>, scalar<T>,
                           std::int64_t);
};

static_assert(compute_backend<archetype>);

}  // namespace rlhf::backend
