// SPDX-License-Identifier: MIT
// libFuzzer harness: io::safetensors_reader on arbitrary bytes (header length, header JSON,
// dtypes, shapes, offsets, data). Every tensor the header accepts must read back with as many
// floats as its shape says.
#include <cstdint>

#include "fuzz_support.hpp"
#include "rlhf/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = rlhf::fuzz::input_file("model.safetensors", data, size);
  rlhf::fuzz::expect_rlhf_error_or_success([&] {
    const rlhf::io::safetensors_reader r(path);
    for (const auto& t : r.tensors()) {
      const auto values = r.read_f32(t.name);
      rlhf::fuzz::require(static_cast<rlhf::index_t>(values.size()) == t.numel(), "read_f32 size != numel");
    }
    (void)r.metadata();
  });
  return 0;
}
