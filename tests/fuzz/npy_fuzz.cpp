// SPDX-License-Identifier: MIT
// libFuzzer harness: io::read_npy on arbitrary bytes (magic, version, header dict, dtype,
// shape, fortran order, data) as float, double and int64 arrays: an array that reads has as
// many elements as its shape says.
#include <cstdint>

#include "fuzz_support.hpp"
#include "rlhf/io/npy.hpp"

template <class T>
void read_as(const std::filesystem::path& p) {
  rlhf::fuzz::expect_rlhf_error_or_success([&] {
    const auto a = rlhf::io::read_npy<T>(p);
    std::size_t n = 1;
    for (const auto d : a.shape()) n *= d;
    rlhf::fuzz::require(n == a.size(), "array size != product of its shape");
  });
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = rlhf::fuzz::input_file("array.npy", data, size);
  read_as<float>(path);
  read_as<double>(path);
  read_as<std::int64_t>(path);
  return 0;
}
