// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Counter-based random numbers: Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers:
/// as easy as 1, 2, 3"). A draw is a pure function of (seed, stream, counter), so the same
/// numbers come out on every backend and for every thread count: a sampler that draws
/// `uniform(seed, row_id, step)` is reproducible whatever the batch size or thread layout.
#include <array>
#include <cstdint>

#include "rlhf/config.hpp"

namespace rlhf {

/// Philox4x32-10: a bijection of a 128-bit counter under a 64-bit key.
struct philox4x32 {
  using block = std::array<std::uint32_t, 4>;

  RLHF_HOST_DEVICE static constexpr block generate(std::uint64_t key, block ctr) noexcept {
    constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
    constexpr std::uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
    std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
    for (int round = 0; round < 10; ++round) {
      const std::uint64_t p0 = static_cast<std::uint64_t>(m0) * ctr[0];
      const std::uint64_t p1 = static_cast<std::uint64_t>(m1) * ctr[2];
      const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
      const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
      ctr = block{hi1 ^ ctr[1] ^ k0, lo1, hi0 ^ ctr[3] ^ k1, lo0};
      k0 += w0;
      k1 += w1;
    }
    return ctr;
  }
};

/// A stream of random numbers keyed by (seed, stream); `counter` indexes the draw.
/// Draw i of stream s under seed k is identical on every backend and thread count.
class counter_rng {
 public:
  RLHF_HOST_DEVICE constexpr counter_rng(std::uint64_t seed, std::uint64_t stream) noexcept
      : seed_(seed), stream_(stream) {}

  /// Four independent 32-bit words for draw `counter`.
  RLHF_HOST_DEVICE constexpr philox4x32::block bits(std::uint64_t counter) const noexcept {
    return philox4x32::generate(
        seed_, {static_cast<std::uint32_t>(counter), static_cast<std::uint32_t>(counter >> 32),
                static_cast<std::uint32_t>(stream_), static_cast<std::uint32_t>(stream_ >> 32)});
  }
  /// Uniform double in [0, 1) with 53 random bits, from draw `counter`.
  RLHF_HOST_DEVICE constexpr double uniform(std::uint64_t counter) const noexcept {
    const auto b = bits(counter);
    const std::uint64_t x = (static_cast<std::uint64_t>(b[0]) << 21) ^ (b[1] >> 11);
    return static_cast<double>(x & ((std::uint64_t{1} << 53) - 1)) * 0x1.0p-53;
  }
  /// Uniform float in [0, 1) with 24 random bits; `lane` (0..3) picks one of the four words.
  RLHF_HOST_DEVICE constexpr float uniform_float(std::uint64_t counter, int lane = 0) const noexcept {
    return static_cast<float>(bits(counter)[lane & 3] >> 8) * 0x1.0p-24f;
  }
  /// Standard normal draw (Box–Muller on two 53-bit uniforms of one block).
  double normal(std::uint64_t counter) const noexcept;

  RLHF_HOST_DEVICE constexpr std::uint64_t seed() const noexcept { return seed_; }
  RLHF_HOST_DEVICE constexpr std::uint64_t stream() const noexcept { return stream_; }

 private:
  std::uint64_t seed_;
  std::uint64_t stream_;
};

/// What a stream of random numbers is for. Each purpose owns the streams whose top byte is its
/// value, so weight initialisation, data order, sampling and dropout under the same seed never
/// draw the same Philox blocks (with one shared stream space, tensor 0's initialisation and
/// prompt 0's sampling would be the same numbers).
enum class rng_purpose : std::uint8_t {
  weight_init = 1,  ///< stream index = the tensor's index in the parameter table
  data_order = 2,   ///< stream index = the epoch (shuffles)
  sampling = 3,     ///< stream index = the sequence (prompt or row) index
  dropout = 4,      ///< stream index = the layer
  prefix = 5,       ///< stream index = the record (random prefix lengths, truncation)
  rollout = 6,      ///< stream index = the rollout (online RL: its sampling seed and minibatch orders)
};

/// The stream of `purpose` number `index` (index < 2^56; higher bits are dropped).
RLHF_HOST_DEVICE constexpr std::uint64_t rng_stream(rng_purpose purpose, std::uint64_t index) noexcept {
  return static_cast<std::uint64_t>(purpose) << 56 | (index & ((std::uint64_t{1} << 56) - 1));
}

}  // namespace rlhf

#include <cmath>
inline double rlhf::counter_rng::normal(std::uint64_t counter) const noexcept {
  const auto b = bits(counter);
  const std::uint64_t x = (static_cast<std::uint64_t>(b[0]) << 21) ^ (b[1] >> 11);
  const std::uint64_t y = (static_cast<std::uint64_t>(b[2]) << 21) ^ (b[3] >> 11);
  const double u1 = (static_cast<double>(x & ((std::uint64_t{1} << 53) - 1)) + 1.0) * 0x1.0p-53;
  const double u2 = static_cast<double>(y & ((std::uint64_t{1} << 53) - 1)) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
}
