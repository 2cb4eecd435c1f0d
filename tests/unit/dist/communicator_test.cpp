// SPDX-License-Identifier: MIT
// The communicator contract (include/rlhf/dist): rank and size, in-place sums that leave every
// process with the same bits, broadcasts, all-gathers of byte strings of any length (empty
// included), backend buffers (host memory in place, thrust's memory staged through the host) and
// the shards of a batch. Run as one process (ctest `dist`) and, in an MPI build, under
// `mpirun -np 2` and `-np 3` (dist.np2, dist.np3): every check holds for any number of processes.
#include <catch2/catch.hpp>

#include <bit>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "rlhf/backend.hpp"
#include "rlhf/dist.hpp"
#include "support/backends.hpp"

namespace {
namespace dist = rlhf::dist;

/// The bytes of a buffer, to compare what the processes hold.
template <class T>
std::string bytes_of(const std::vector<T>& x) {
  return {reinterpret_cast<const char*>(x.data()), x.size() * sizeof(T)};
}
/// Every process holds the same bytes.
bool same_everywhere(const dist::any_communicator& c, const std::string& mine) {
  for (const auto& other : c.all_gather(mine))
    if (other != mine) return false;
  return true;
}
}  // namespace

TEST_CASE("dist: world() is one process without a launcher, and the build's communicator under one",
          "[dist]") {
  const auto& w = dist::world();
  REQUIRE(w.size() >= 1);
  REQUIRE(w.rank() >= 0);
  REQUIRE(w.rank() < w.size());
  CHECK(w.is_root() == (w.rank() == 0));
  const std::string name = w.name();
  CHECK((name == "single" || name == "mpi" || name == "nccl"));
  STATIC_REQUIRE(dist::communicator<dist::default_communicator>);
  STATIC_REQUIRE(dist::communicator<dist::any_communicator>);
}

TEST_CASE("dist: all_reduce_sum leaves the same sum, bit for bit, on every process", "[dist]") {
  const auto& w = dist::world();
  const int p = w.size(), r = w.rank();
  // Values whose float sum depends on the order of addition, so a per-process order would show.
  std::vector<float> f(1000);
  std::vector<double> d(7);
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = 0.1f * static_cast<float>(i + 1) / static_cast<float>(r + 3);
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<double>(r + 1) * (static_cast<double>(i) + 0.25);
  w.all_reduce_sum(std::span<float>(f));
  w.all_reduce_sum(std::span<double>(d));
  for (std::size_t i = 0; i < f.size(); ++i) {
    double want = 0;
    for (int q = 0; q < p; ++q) want += 0.1 * static_cast<double>(i + 1) / (q + 3);
    INFO("element " << i);
    REQUIRE(f[i] == Approx(want).epsilon(1e-5));
  }
  const double ranks = p * (p + 1) / 2.0;
  for (std::size_t i = 0; i < d.size(); ++i) CHECK(d[i] == ranks * (static_cast<double>(i) + 0.25));
  CHECK(same_everywhere(w, bytes_of(f)));
  CHECK(same_everywhere(w, bytes_of(d)));
  CHECK(w.sum(static_cast<double>(r)) == p * (p - 1) / 2.0);
}

TEST_CASE("dist: broadcast gives every process the root's buffer; all_gather every process's bytes", "[dist]") {
  const auto& w = dist::world();
  const int p = w.size(), r = w.rank();
  for (int root = 0; root < p; ++root) {
    std::vector<float> x(5, static_cast<float>(r) + 0.5f);
    w.broadcast(std::span<float>(x), root);
    for (float v : x) CHECK(v == static_cast<float>(root) + 0.5f);
  }
  // Rank q sends q copies of 'a' + q (rank 0 sends nothing).
  const auto all = w.all_gather(std::string(static_cast<std::size_t>(r), static_cast<char>('a' + r)));
  REQUIRE(static_cast<int>(all.size()) == p);
  for (int q = 0; q < p; ++q) CHECK(all[static_cast<std::size_t>(q)] == std::string(static_cast<std::size_t>(q), static_cast<char>('a' + q)));
  w.barrier();
}

TEMPLATE_LIST_TEST_CASE("dist: backend buffers are summed and broadcast in their own memory", "[dist]",
                        rlhf::test::backends) {
  using B = TestType;
  const auto& w = dist::world();
  const int p = w.size(), r = w.rank();
  typename B::template buffer<float> buf(rlhf::shape{3, 4});
  std::vector<float> host(12);
  std::iota(host.begin(), host.end(), static_cast<float>(r));
  B::from_host(buf.view(), std::span<const float>(host));
  dist::all_reduce_sum<B>(w, buf.view());
  B::to_host(std::span<float>(host), rlhf::view<const float, typename B::space>(buf.view()));
  for (std::size_t i = 0; i < host.size(); ++i)
    CHECK(host[i] == static_cast<float>(p) * static_cast<float>(i) + static_cast<float>(p * (p - 1) / 2));
  std::fill(host.begin(), host.end(), static_cast<float>(r));
  B::from_host(buf.view(), std::span<const float>(host));
  dist::broadcast<B>(w, buf.view(), p - 1);
  B::to_host(std::span<float>(host), rlhf::view<const float, typename B::space>(buf.view()));
  for (float v : host) CHECK(v == static_cast<float>(p - 1));
}

TEST_CASE("dist: shards are contiguous, disjoint, in order and cover the batch", "[dist]") {
  for (std::size_t n : {0u, 1u, 2u, 5u, 12u, 13u})
    for (int p : {1, 2, 3, 4, 7}) {
      std::size_t next = 0, smallest = n, largest = 0;
      for (int r = 0; r < p; ++r) {
        const auto s = dist::shard(n, r, p);
        INFO("n " << n << ", p " << p << ", r " << r);
        CHECK(s.first == next);
        next = s.last;
        smallest = std::min(smallest, s.size());
        largest = std::max(largest, s.size());
      }
      CHECK(next == n);
      CHECK(largest - smallest <= 1);
    }
}

TEST_CASE("dist: single_process is rank 0 of 1 and every collective is the identity", "[dist]") {
  const dist::any_communicator one = dist::single_process{};
  CHECK(one.size() == 1);
  CHECK(one.rank() == 0);
  std::vector<float> x{1.5f, -2.0f};
  one.all_reduce_sum(std::span<float>(x));
  one.broadcast(std::span<float>(x), 0);
  CHECK(x == std::vector<float>{1.5f, -2.0f});
  CHECK(one.all_gather("abc") == std::vector<std::string>{"abc"});
  CHECK(std::string(one.name()) == "single");
}
