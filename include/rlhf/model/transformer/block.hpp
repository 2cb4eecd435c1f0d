// SPDX-License-Identifier: MIT
#pragma once
// IWYU pragma: private
/// @file
/// One pre-LN GPT-2 block (Radford et al. 2019) written against the compute_backend kernels only,
/// shared by training (all positions, no cache) and decoding (new positions against a KV cache):
///   x1 = x + c_proj(attn(ln_1(x)))      x2 = x1 + mlp_c_proj(gelu(c_fc(ln_2(x1))))
/// The forward keeps what the hand-written backward needs; nothing else is stored.
#include <cstdint>

#include "rlhf/backend/backend.hpp"
#include "rlhf/core/view.hpp"

namespace rlhf::detail {

/// Read-only views of one block's tensors (shapes with C channels; Conv1D weights [in, out]).
template <class Backend, class T>
struct block_weights {
  using cv = view<const T, typename Backend::space>;
  cv ln1_w, ln1_b;            // (C)
  cv attn_w, attn_b;          // (C, 3C), (3C)
  cv attn_proj_w, attn_proj_b;  // (C, C), (C)
  cv ln2_w, ln2_b;            // (C)
  cv fc_w, fc_b;              // (C, 4C), (4C)
  cv fc_proj_w, fc_proj_b;    // (4C, C), (C)
};

/// Gradient views of one block's tensors (same shapes as block_weights).
template <class Backend, class T>
struct block_grads {
  using mv = view<T, typename Backend::space>;
  mv ln1_w, ln1_b, attn_w, attn_b, attn_proj_w, attn_proj_b, ln2_w, ln2_b, fc_w, fc_b, fc_proj_w,
      fc_proj_b;
};

/// Activations of one block over n rows of q tokens (N = n·q), kept for the backward pass.
template <class Backend, class T>
struct block_activations {
  using mv = view<T, typename Backend::space>;
  mv ln1, ln1_mean, ln1_rstd;  // (N, C), (N), (N)
  mv q, k, v;                  // (n, q, C) each; heads interleaved in C
  mv probs;                    // (n, NH, q, S): attention weights, S = cached + q
  mv atty;                     // (n, q, C) attention output before c_proj
  mv res2;                     // (N, C) residual after attention
  mv ln2, ln2_mean, ln2_rstd;  // (N, C), (N), (N)
  mv fch, fch_gelu;            // (N, 4C)
  mv res3;                     // (N, C) block output
};

/// The KV cache an attention call reads: empty views for training (no cache).
template <class Backend, class T>
struct cache_args {
  view<const T, typename Backend::space> k_cache, v_cache;         // (R, Tcap, C) or empty
  view<const std::int32_t, typename Backend::space> row, len;      // (n) or empty
};

/// Forward of one block: act.res3 = block(x). `qkv` (N, 3C) and `proj` (N, C) are scratch.
template <class Backend, class T>
void block_forward(const block_activations<Backend, T>& a, view<const T, typename Backend::space> x,
                   const block_weights<Backend, T>& w, view<T, typename Backend::space> qkv,
                   view<T, typename Backend::space> proj, const cache_args<Backend, T>& cache,
                   index_t n_head, T eps) {
  using cv = view<const T, typename Backend::space>;
  Backend::layernorm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, x, w.ln1_w, w.ln1_b, eps);
  Backend::matmul_forward(qkv, cv(a.ln1), w.attn_w, w.attn_b, false);
  const shape s3 = a.q.extents();
  Backend::split_qkv(a.q, a.k, a.v, cv(qkv.reshape({s3[0], s3[1], 3 * s3[2]})));
  Backend::attention_forward(a.atty, a.probs, cv(a.q), cv(a.k), cv(a.v), cache.k_cache,
                             cache.v_cache, cache.row, cache.len, static_cast<int>(n_head));
  Backend::matmul_forward(proj, cv(a.atty), w.attn_proj_w, w.attn_proj_b, false);
  Backend::add(a.res2, x, cv(proj));
  Backend::layernorm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, cv(a.res2), w.ln2_w, w.ln2_b, eps);
  Backend::matmul_forward(a.fch, cv(a.ln2), w.fc_w, w.fc_b, false);
  Backend::gelu_forward(a.fch_gelu, cv(a.fch));
  Backend::matmul_forward(proj, cv(a.fch_gelu), w.fc_proj_w, w.fc_proj_b, false);
  Backend::add(a.res3, cv(a.res2), cv(proj));
}

/// Scratch gradients of one block's activations, overwritten (zero-filled) per block.
template <class Backend, class T>
struct block_scratch_grads {
  using mv = view<T, typename Backend::space>;
  mv d_ln;                 // (N, C)
  mv d_qkv;                // (n, q, 3C)
  mv dq, dk, dv;           // (n, q, C)
  mv d_atty;               // (n, q, C)
  mv d_fch, d_fch_gelu;    // (N, 4C)
};

/// Backward of one block. On entry `dres` (N, C) holds dL/d(block output); on exit it holds
/// dL/d(block input) (the residual path adds in place, llm.c's convention). Parameter gradients
/// accumulate (+=) into g; `x` is the block input the forward saw.
template <class Backend, class T>
void block_backward(view<T, typename Backend::space> dres, const block_grads<Backend, T>& g,
                    const block_scratch_grads<Backend, T>& s, const block_activations<Backend, T>& a,
                    view<const T, typename Backend::space> x, const block_weights<Backend, T>& w,
                    index_t n_head) {
  using cv = view<const T, typename Backend::space>;
  // MLP: res3 = res2 + fc_proj(gelu(fc(ln2(res2)))).
  Backend::fill(s.d_fch_gelu, T(0));
  Backend::matmul_backward(s.d_fch_gelu, g.fc_proj_w, g.fc_proj_b, cv(dres), cv(a.fch_gelu),
                           w.fc_proj_w, false);
  Backend::fill(s.d_fch, T(0));
  Backend::gelu_backward(s.d_fch, cv(s.d_fch_gelu), cv(a.fch));
  Backend::fill(s.d_ln, T(0));
  Backend::matmul_backward(s.d_ln, g.fc_w, g.fc_b, cv(s.d_fch), cv(a.ln2), w.fc_w, false);
  Backend::layernorm_backward(dres, g.ln2_w, g.ln2_b, cv(s.d_ln), cv(a.res2), w.ln2_w,
                              cv(a.ln2_mean), cv(a.ln2_rstd));
  // Attention: res2 = x + attn_proj(attn(ln1(x))).
  Backend::fill(s.d_atty, T(0));
  Backend::matmul_backward(s.d_atty, g.attn_proj_w, g.attn_proj_b, cv(dres), cv(a.atty),
                           w.attn_proj_w, false);
  Backend::fill(s.dq, T(0));
  Backend::fill(s.dk, T(0));
  Backend::fill(s.dv, T(0));
  Backend::attention_backward(s.dq, s.dk, s.dv, cv(s.d_atty), cv(a.q), cv(a.k), cv(a.v),
                              cv(a.probs), static_cast<int>(n_head));
  Backend::fill(s.d_qkv, T(0));
  Backend::split_qkv_backward(s.d_qkv, cv(s.dq), cv(s.dk), cv(s.dv));
  Backend::fill(s.d_ln, T(0));
  const index_t N = a.ln1.dim(0), C = a.ln1.dim(1);
  Backend::matmul_backward(s.d_ln, g.attn_w, g.attn_b, cv(s.d_qkv.reshape({N, 3 * C})), cv(a.ln1),
                           w.attn_w, false);
  Backend::layernorm_backward(dres, g.ln1_w, g.ln1_b, cv(s.d_ln), x, w.ln1_w, cv(a.ln1_mean),
                              cv(a.ln1_rstd));
}

}  // namespace rlhf::detail
