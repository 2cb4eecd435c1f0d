#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <thread>
#include <vector>

#include "rlhf/core/rng.hpp"

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors", "[core][rng]") {
  // Known-answer tests from Random123 (kat_vectors): philox4x32 with 10 rounds.
  auto r = rlhf::philox4x32::generate(0, {0, 0, 0, 0});
  CHECK(r == rlhf::philox4x32::block{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  r = rlhf::philox4x32::generate(0xffffffffffffffffull,
                                 {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu});
  CHECK(r == rlhf::philox4x32::block{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  // Random123 keys are two words {k0, k1} = {0xa4093822, 0x299f31d0}; k0 is the low half here.
  r = rlhf::philox4x32::generate((std::uint64_t{0x299f31d0u} << 32) | 0xa4093822u,
                                 {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u});
  CHECK(r == rlhf::philox4x32::block{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("counter_rng draws are a pure function of (seed, stream, counter)", "[core][rng]") {
  rlhf::counter_rng a(42, 7), b(42, 7), c(42, 8), d(43, 7);
  for (std::uint64_t i = 0; i < 100; ++i) {
    CHECK(a.uniform(i) == b.uniform(i));
    CHECK(a.uniform(i) != c.uniform(i));
    CHECK(a.uniform(i) != d.uniform(i));
  }
  // Order of draws and the thread that makes them do not matter.
  std::vector<double> serial(1000), threaded(1000);
  for (std::uint64_t i = 0; i < 1000; ++i) serial[i] = a.uniform(i);
  std::thread t1([&] { for (std::uint64_t i = 0; i < 1000; i += 2) threaded[i] = a.uniform(i); });
  std::thread t2([&] { for (std::uint64_t i = 1; i < 1000; i += 2) threaded[i] = a.uniform(i); });
  t1.join();
  t2.join();
  CHECK(serial == threaded);
}

TEST_CASE("counter_rng uniforms are in [0,1) with the right moments", "[core][rng][statistical]") {
  rlhf::counter_rng rng(1, 2);
  const int n = 200000;
  double s = 0, s2 = 0, ns = 0, ns2 = 0;
  int bins[10] = {};
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform(static_cast<std::uint64_t>(i));
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    const float f = rng.uniform_float(static_cast<std::uint64_t>(i), i & 3);
    REQUIRE(f >= 0.0f);
    REQUIRE(f < 1.0f);
    s += u;
    s2 += u * u;
    ++bins[static_cast<int>(u * 10)];
    const double z = rng.normal(static_cast<std::uint64_t>(n + i));
    ns += z;
    ns2 += z * z;
  }
  // Standard errors: mean 1/sqrt(12 n) ≈ 6.5e-4, normal mean 1/sqrt(n) ≈ 2.2e-3; 5 sigma bounds.
  CHECK(std::abs(s / n - 0.5) < 5 * 6.5e-4);
  CHECK(std::abs(s2 / n - 1.0 / 3) < 5e-3);
  CHECK(std::abs(ns / n) < 5 * 2.3e-3);
  CHECK(std::abs(ns2 / n - 1.0) < 0.02);
  // Chi-square with 9 degrees of freedom: P(X > 33.7) ≈ 1e-4 (documented false-alarm rate).
  double chi2 = 0;
  for (int b : bins) chi2 += (b - n / 10.0) * (b - n / 10.0) / (n / 10.0);
  CHECK(chi2 < 33.7);
}

TEST_CASE("each purpose owns its streams: weight init, data order, sampling never share draws", "[core][rng]") {
  using rlhf::rng_purpose;
  const rng_purpose all[] = {rng_purpose::weight_init, rng_purpose::data_order, rng_purpose::sampling,
                             rng_purpose::dropout, rng_purpose::prefix};
  // The default seeds of `rlhf init` and `rlhf generate` are the same; tensor i and prompt i
  // used to draw from stream i of that seed alike.
  for (std::uint64_t i = 0; i < 4; ++i)
    for (auto a : all)
      for (auto b : all) {
        if (a == b) continue;
        CHECK(rlhf::rng_stream(a, i) != rlhf::rng_stream(b, i));
        CHECK(rlhf::counter_rng(1, rlhf::rng_stream(a, i)).uniform(0) !=
              rlhf::counter_rng(1, rlhf::rng_stream(b, i)).uniform(0));
      }
  CHECK(rlhf::rng_stream(rng_purpose::sampling, 5) >> 56 == static_cast<std::uint64_t>(rng_purpose::sampling));
}
