// SPDX-License-Identifier: MIT
// libFuzzer harness: a model directory's config.json and rlhf.json (the same bytes in both):
// read_gpt2_config, read_tabular_config, read_model_info. A config that reads must validate.
#include <cstdint>
#include <filesystem>

#include "fuzz_support.hpp"
#include "rlhf/model/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto dir = rlhf::fuzz::input_file("config.json", data, size).parent_path();
  rlhf::fuzz::input_file("rlhf.json", data, size);
  rlhf::fuzz::expect_rlhf_error_or_success([&] { rlhf::read_gpt2_config(dir).validate(); });
  rlhf::fuzz::expect_rlhf_error_or_success([&] { rlhf::read_tabular_config(dir).validate(); });
  rlhf::fuzz::expect_rlhf_error_or_success([&] { (void)rlhf::read_model_info(dir); });
  rlhf::fuzz::expect_rlhf_error_or_success([&] { (void)rlhf::read_model_type(dir); });
  return 0;
}
