// SPDX-License-Identifier: MIT
// Thrust backend storage: buffers, memory spaces, host transfers, several systems in one program.
#include <catch2/catch.hpp>

#include <type_traits>
#include <vector>

#include "thrust_support.hpp"

using rlhf::index_t;
using rlhf::shape;
using rlhf::backend::thrust_cpp;
using rlhf::backend::thrust_host;

static_assert(rlhf::compute_backend<thrust_host>);
static_assert(rlhf::compute_backend<thrust_cpp>);
static_assert(rlhf::compute_backend<rlhf::backend::thrust_default>);
static_assert(!std::is_same_v<thrust_host::space, thrust_cpp::space>);
static_assert(!std::is_same_v<thrust_host::space, rlhf::host_space>);
// Views of one memory space never convert to another's: host memory cannot reach a kernel.
static_assert(!std::is_convertible_v<rlhf::view<float, rlhf::host_space>, rlhf::view<float, thrust_host::space>>);
static_assert(!std::is_convertible_v<rlhf::view<float, thrust_host::space>, rlhf::view<float, rlhf::host_space>>);
static_assert(!std::is_convertible_v<rlhf::view<float, thrust_cpp::space>, rlhf::view<float, thrust_host::space>>);
static_assert(std::is_convertible_v<rlhf::view<float, thrust_host::space>, rlhf::view<const float, thrust_host::space>>);
// Element access is host_space only.
template <class V>
concept indexable = requires(V v) { v[0]; };
static_assert(indexable<rlhf::view<float, rlhf::host_space>>);
static_assert(!indexable<rlhf::view<float, thrust_host::space>>);

TEMPLATE_TEST_CASE("thrust buffers are shaped, zero-initialised and round-trip through the host",
                   "[thrust][buffer]", RLHF_THRUST_TEST_SYSTEMS) {
  using B = TestType;
  if (!rlhf::test::system_available<B>()) {
    WARN(B::name() << ": no device, skipped");
    return;
  }
  typename B::template buffer<float> b(shape{3, 4, 5});
  CHECK(b.size() == 60);
  CHECK(b.extents() == shape{3, 4, 5});
  CHECK(b.view().extents() == shape{3, 4, 5});
  CHECK(b.view().data() != nullptr);
  const auto zeros = rlhf::test::download<B>(b.view());
  CHECK(zeros == std::vector<float>(60, 0.0f));

  std::vector<float> h(60);
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = 0.5f * static_cast<float>(i) - 7.0f;
  B::from_host(b.view(), std::span<const float>(h));
  CHECK(rlhf::test::download<B>(b.view()) == h);

  typename B::template buffer<std::int32_t> ids(shape{4});
  const std::vector<std::int32_t> hid{3, -1, 7, 0};
  B::from_host(ids.view(), std::span<const std::int32_t>(hid));
  CHECK(rlhf::test::download<B>(ids.view()) == hid);

  const typename B::template buffer<double> empty(shape{0, 8});
  CHECK(empty.size() == 0);
  CHECK(empty.view().empty());
}

TEMPLATE_TEST_CASE("thrust host transfers and buffers reject bad sizes", "[thrust][buffer][errors]",
                   RLHF_THRUST_TEST_SYSTEMS) {
  using B = TestType;
  if (!rlhf::test::system_available<B>()) {
    WARN(B::name() << ": no device, skipped");
    return;
  }
  typename B::template buffer<float> b(shape{2, 3});
  std::vector<float> small(5);
  CHECK_THROWS_AS(B::from_host(b.view(), std::span<const float>(small)), rlhf::invalid_argument);
  CHECK_THROWS_AS(B::to_host(std::span<float>(small), b.view()), rlhf::invalid_argument);
  CHECK_THROWS_WITH(B::to_host(std::span<float>(small), b.view()), Catch::Contains("to_host"));
  CHECK_THROWS_AS(typename B::template buffer<float>(shape{2, -1}), rlhf::invalid_argument);
}

TEST_CASE("thrust systems coexist in one program and agree", "[thrust][systems]") {
  CHECK(thrust_host::name() == "thrust-omp");
  CHECK(thrust_cpp::name() == "thrust-cpp");
  const index_t n = 1000;
  std::vector<double> x(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = 1.0 / static_cast<double>(i + 1);
  auto a = rlhf::test::upload<thrust_host>(x, shape{n});
  auto b = rlhf::test::upload<thrust_cpp>(x, shape{n});
  thrust_host::scale(a.view(), 2.0);
  thrust_cpp::scale(b.view(), 2.0);
  double harmonic = 0;
  for (index_t i = n; i >= 1; --i) harmonic += 1.0 / static_cast<double>(i);
  CHECK(thrust_host::sum(a.view()) == Approx(2 * harmonic).epsilon(1e-13));
  CHECK(thrust_cpp::sum(b.view()) == Approx(2 * harmonic).epsilon(1e-13));
  CHECK(rlhf::test::download<thrust_host>(a.view()) == rlhf::test::download<thrust_cpp>(b.view()));
}
