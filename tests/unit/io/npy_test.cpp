// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include "rlhf/io/npy.hpp"
#include "temp_dir.hpp"

using Catch::Matchers::Contains;
namespace io = rlhf::io;

namespace {
// A version-1 .npy file with the given header dict, padded as numpy pads it.
std::string npy_v1(std::string dict, const void* data, std::size_t bytes) {
  std::string header = std::move(dict);
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(data), bytes);
  return out;
}
}  // namespace

TEMPLATE_TEST_CASE("write_npy and read_npy round-trip", "[io][npy]", float, double, std::int32_t, std::int64_t,
                   std::uint8_t) {
  rlhf::test::temp_dir dir;
  xt::xarray<TestType> a = {{1, 2, 3}, {4, 5, 100}};
  const auto p = dir / "a.npy";
  io::write_npy(p, a);
  const auto b = io::read_npy<TestType>(p);
  CHECK(b.shape() == a.shape());
  CHECK(b == a);
  const xt::xtensor<TestType, 2> c = io::read_npy<TestType, 2>(p);
  CHECK(c == a);
  CHECK_THROWS_AS((io::read_npy<TestType, 3>(p)), rlhf::format_error);
  CHECK(dir.entries() == 1);
}

TEST_CASE("read_npy converts Fortran order to row-major", "[io][npy]") {
  rlhf::test::temp_dir dir;
  // The (2, 3) matrix [[1, 2, 3], [4, 5, 6]] stored column by column.
  const float col_major[] = {1, 4, 2, 5, 3, 6};
  const auto p = dir.write("f.npy", npy_v1("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                           col_major, sizeof col_major));
  const auto a = io::read_npy<float>(p);
  const xt::xarray<float> want = {{1, 2, 3}, {4, 5, 6}};
  CHECK(a == want);
}

TEST_CASE("malformed .npy files raise format_error naming the file", "[io][npy]") {
  rlhf::test::temp_dir dir;
  const float six[] = {1, 2, 3, 4, 5, 6};
  const std::string good = npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", six, sizeof six);
  auto bad = [&](const std::string& bytes, const char* phrase) {
    INFO(phrase);
    const auto p = dir.write("bad.npy", bytes);
    CHECK_THROWS_AS(io::read_npy<float>(p), rlhf::format_error);
    CHECK_THROWS_WITH(io::read_npy<float>(p), Contains("bad.npy") && Contains(phrase));
  };
  bad("hello world, not numpy", "not a .npy file");
  bad(good.substr(0, good.size() - 4), "truncated");
  bad(good.substr(0, 40), "past the end");
  bad(npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }", six, sizeof six),
      "truncated");
  bad(npy_v1("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", six, sizeof six), "'<f8'");
  bad(npy_v1("{'nonsense': 1}", six, sizeof six), "malformed .npy header");
  std::string v9 = good;
  v9[6] = 9;
  bad(v9, "version 9");
  CHECK_THROWS_AS(io::read_npy<float>(dir / "absent.npy"), rlhf::io_error);
  CHECK(io::read_npy<float>(dir.write("good.npy", good)).size() == 6);
  // The strict header parser: what numpy writes, in any key order and quoting, and nothing else.
  CHECK(io::read_npy<float>(dir.write("swapped.npy", npy_v1("{\"shape\": (6,), \"fortran_order\": False, \"descr\": \"<f4\"}", six, sizeof six))).size() == 6);
  CHECK(io::read_npy<float>(dir.write("scalar.npy", npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", six, 4))).size() == 1);
  bad(npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'descr': '<f4'}", six, sizeof six), "one each of the keys");
  bad(npy_v1("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3)}", six, sizeof six), "True or False");
  bad(npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", six, sizeof six), "non-negative integer");
  bad(npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 3)}", six, sizeof six), "64 bits");
  bad(npy_v1("{'descr': '<f4', 'fortran_order': False}", six, sizeof six), "all of");
  bad(npy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} trailing", six, sizeof six), "only spaces");
}

TEST_CASE("fuzzing's findings on .npy stay fixed: each minimised input is a format_error", "[io][npy][fuzz]") {
  // tests/fuzz: xtensor's header parser did out-of-range string arithmetic (UBSan) on these.
  for (const char* f : {"crash-b3c99dcb83da", "crash-ff66ce04cef8"}) {
    INFO(f);
    const auto p = std::filesystem::path(RLHF_TEST_DATA_DIR) / "fuzz_regressions" / "npy" / f;
    CHECK_THROWS_AS(io::read_npy<float>(p), rlhf::format_error);
  }
}
