// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The `compute_backend` concept (the role DESIGN.md calls `Backend`; `rlhf::backend` is the
/// namespace of the concrete backends): storage plus the kernel set of a GPT-2-family transformer,
/// forward and backward. Algorithms are written once against this concept and never name a
/// concrete backend; `rlhf::backend::default_backend` (rlhf/backend.hpp) follows RLHF_BACKEND.
///
/// Conventions for every kernel (llm.c order): outputs first, then inputs, then scalars.
/// Views are row-major and contiguous; a view's memory space is part of its type.
/// Shapes use the letters B batch, T tokens, C channels, V vocabulary, NH heads, N rows.
/// Forward kernels overwrite their outputs. **Backward kernels accumulate (+=) into every
/// gradient output**; an empty view (default-constructed) means "this gradient is not wanted".
/// Shape mismatches and out-of-range token ids / positions throw rlhf::invalid_argument.
///
/// | kernel | forward | backward |
/// |---|---|---|
/// | fill, copy, axpy, scale, add | x = a; y = x; y += αx; x *= α; out = a + b | — |
/// | sum, sum_squares | Σ x, Σ x² as double | — |
/// | to_host / from_host | explicit copies between the backend's space and host memory | — |
/// | matmul | out (M,N) = inp (M,K) · W + bias; W is (K,N), or (N,K) when `transpose_weight` | dinp += dout·Wᵀ, dW += inpᵀ·dout, dbias += Σ_rows dout |
/// | layernorm | out = (x - μ)·rstd·w + b per row; saves μ, rstd (N) | dinp, dw, db |
/// | gelu | GPT-2's tanh form | dinp |
/// | softmax / log_softmax | per row of the last dimension | dx += p ⊙ (dout - ⟨dout, p⟩) / dx += dout - p·Σ dout |
/// | logsumexp | out (N) = log Σ_v exp x[n, v] | dx += dout · softmax(x) |
/// | cross_entropy | logp (N) = x[n, t_n] - lse_n; t_n < 0 ignores row n (logp = 0) | dx += dlogp · (onehot(t) - softmax(x)) |
/// | embedding | out (N,C) = wte[tok] + wpe[pos] | scatter-add into dwte, dwpe (deterministic order) |
/// | split_qkv | q, k, v (B,T,C) from qkv (B,T,3C) | dqkv += [dq dk dv] |
/// | attention | causal multi-head attention over an optional KV cache (below) | dq, dk, dv (no cache) |
/// | kv_write | cache[row_b, len_b + i] = src[b, i] for i < count_b | — |
/// | gather_rows / scatter_add_rows | out[b] = inp[idx_b] | dinp[idx_b] += dout[b] |
/// | pick | out (N) = x[n, idx_n] (idx_n < 0: 0) | dx[n, idx_n] += dout[n] |
/// | row_max | out (N) = max_v x[n, v], argmax (N) = lowest v attaining it | pick_backward with idx = argmax |
/// | set_num_threads, num_threads | host threads the kernels use (results do not depend on them) | — |
/// | adamw_update | AdamW (Loshchilov & Hutter 2019), bias-corrected, decoupled decay | — |
///
/// Attention: heads are interleaved in C (head h owns columns [h·hs, (h+1)·hs), hs = C/NH).
/// `attention_forward(out (B,Tq,C), probs (B,NH,Tq,S), q, k, v (B,Tq,C), k_cache, v_cache
/// (R,Tcap,C) or empty, cache_row (B) or empty, cache_len (B) or empty, n_head)`: query i of
/// row b attends the cached keys k_cache[cache_row[b], 0 .. cache_len[b]) and then the new keys
/// k[b, 0 .. i] (causal). probs[b, h, i, j] holds the attention weight of cached key j for
/// j < cache_len[b], and of new key j - cache_len[b] after that; unused entries are 0; S must be
/// >= max_b cache_len[b] + Tq. Scale 1/sqrt(hs). Training uses no cache (cache_len = 0, S = Tq);
/// decoding appends the new k, v with kv_write afterwards; scoring k candidate tokens against one
/// prefix points k query rows at the same cache row and does not write them back.
#include <concepts>
#include <cstdint>
#include <span>
#include <string_view>

#include "rlhf/core/view.hpp"

namespace rlhf {

/// The owning storage a backend hands out: a shaped, zero-initialised array in `space`.
template <class Buf, class T, class Space>
concept backend_buffer = requires(Buf b, const Buf cb, shape s) {
  Buf(s);
  { b.view() } -> std::same_as<view<T, Space>>;
  { cb.view() } -> std::same_as<view<const T, Space>>;
  { cb.size() } -> std::convertible_to<index_t>;
  { cb.extents() } -> std::convertible_to<shape>;
};

namespace detail {
template <class B, class T>
concept backend_kernels_for =
    backend_buffer<typename B::template buffer<T>, T, typename B::space> &&
    requires(view<T, typename B::space> x, view<const T, typename B::space> c,
             view<const std::int32_t, typename B::space> idx, view<std::int32_t, typename B::space> ix,
             std::span<T> hout,
             std::span<const T> hin, T a, bool flag, int n) {
      B::fill(x, a);
      B::copy(x, c);
      B::axpy(x, a, c);
      B::scale(x, a);
      B::add(x, c, c);
      { B::sum(c) } -> std::same_as<double>;
      { B::sum_squares(c) } -> std::same_as<double>;
      B::to_host(hout, c);
      B::from_host(x, hin);
      B::matmul_forward(x, c, c, c, flag);
      B::matmul_backward(x, x, x, c, c, c, flag);
      B::layernorm_forward(x, x, x, c, c, c, a);
      B::layernorm_backward(x, x, x, c, c, c, c, c);
      B::gelu_forward(x, c);
      B::gelu_backward(x, c, c);
      B::softmax_forward(x, c);
      B::softmax_backward(x, c, c);
      B::log_softmax_forward(x, c);
      B::log_softmax_backward(x, c, c);
      B::logsumexp_forward(x, c);
      B::logsumexp_backward(x, c, c, c);
      B::cross_entropy_forward(x, x, c, idx);
      B::cross_entropy_backward(x, c, c, c, idx);
      B::embedding_forward(x, c, c, idx, idx);
      B::embedding_backward(x, x, c, idx, idx);
      B::split_qkv(x, x, x, c);
      B::split_qkv_backward(x, c, c, c);
      B::attention_forward(x, x, c, c, c, c, c, idx, idx, n);
      B::attention_backward(x, x, x, c, c, c, c, c, n);
      B::kv_write(x, c, idx, idx, idx);
      B::gather_rows(x, c, idx);
      B::scatter_add_rows(x, c, idx);
      B::pick_forward(x, c, idx);
      B::pick_backward(x, c, idx);
      B::row_max_forward(x, ix, c);
      B::adamw_update(x, c, x, x, a, a, a, a, a, std::int64_t{1});
    };
}  // namespace detail

/// A compute backend: a memory space, owning buffers, and the kernel set above for float and
/// double (double is what gradient checks run in). Models: rlhf::backend::eigen,
/// rlhf::backend::thrust<System>.
template <class B>
concept compute_backend = requires(int n) {
  typename B::space;
  { B::name() } -> std::convertible_to<std::string_view>;
  B::set_num_threads(n);  // host threads of the kernels (n >= 1); results never depend on it
  { B::num_threads() } -> std::convertible_to<int>;
} && detail::backend_kernels_for<B, float> && detail::backend_kernels_for<B, double> &&
    backend_buffer<typename B::template buffer<std::int32_t>, std::int32_t, typename B::space> &&
    requires(view<std::int32_t, typename B::space> x, std::span<const std::int32_t> hin,
             std::span<std::int32_t> hout) {
      B::from_host(x, hin);
      B::to_host(hout, view<const std::int32_t, typename B::space>(x));
    };

}  // namespace rlhf
