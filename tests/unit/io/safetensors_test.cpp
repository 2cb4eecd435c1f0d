// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "rlhf/io/safetensors.hpp"
#include "temp_dir.hpp"

using Catch::Matchers::Contains;
namespace io = rlhf::io;

namespace {

// A safetensors file from a header text and a data buffer, laid out by hand.
std::string make_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i, n >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(n & 0xff);
  return out + header + data;
}

std::string le16(std::initializer_list<std::uint16_t> values) {
  std::string s;
  for (auto v : values) {
    s.push_back(static_cast<char>(v & 0xff));
    s.push_back(static_cast<char>(v >> 8));
  }
  return s;
}

// Independent reference decoders: the IEEE formulas evaluated with ldexp.
double f16_reference(std::uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const double sign = s ? -1.0 : 1.0;
  if (e == 0x1f) return m ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  if (e == 0) return sign * std::ldexp(m, -24);
  return sign * std::ldexp(1024 + m, e - 25);
}
double bf16_reference(std::uint16_t b) {
  const int s = b >> 15, e = (b >> 7) & 0xff, m = b & 0x7f;
  const double sign = s ? -1.0 : 1.0;
  if (e == 0xff) return m ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  if (e == 0) return sign * std::ldexp(m, -133);
  return sign * std::ldexp(128 + m, e - 134);
}

}  // namespace

TEST_CASE("F16 and BF16 widen exactly for all 65536 bit patterns", "[io][safetensors]") {
  for (std::uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<std::uint16_t>(i);
    const double want16 = f16_reference(h);
    const float got16 = io::f16_to_f32(h);
    if (std::isnan(want16)) {
      REQUIRE(std::isnan(got16));
    } else {
      REQUIRE(static_cast<double>(got16) == want16);
      REQUIRE(std::signbit(got16) == std::signbit(want16));
    }
    const double want_bf = bf16_reference(h);
    const float got_bf = io::bf16_to_f32(h);
    if (std::isnan(want_bf)) {
      REQUIRE(std::isnan(got_bf));
    } else {
      REQUIRE(static_cast<double>(got_bf) == want_bf);
      REQUIRE(std::signbit(got_bf) == std::signbit(want_bf));
    }
  }
  // NaN payloads survive (bits, not just "a NaN").
  CHECK(std::bit_cast<std::uint32_t>(io::f16_to_f32(0x7e01)) == 0x7fc02000u);
  CHECK(std::bit_cast<std::uint32_t>(io::bf16_to_f32(0xffc1)) == 0xffc10000u);
}

TEST_CASE("save_safetensors round-trips tensors, order and metadata", "[io][safetensors]") {
  rlhf::test::temp_dir dir;
  const std::vector<float> a{1.f, -2.5f, 3.25f, 0.f, -0.f, 1e-40f};  // a subnormal too
  const std::vector<float> b{std::numeric_limits<float>::infinity(), 7.f, -1.f};
  const std::vector<float> scalar{42.f};
  const std::vector<io::tensor_ref> tensors{
      {"wte.weight", {2, 3}, a}, {"empty", {0, 5}, {}}, {"h.0.ln_1.bias", {3}, b}, {"scale", {}, scalar}};
  const auto p = dir / "model.safetensors";
  io::save_safetensors(p, tensors, {{"format", "pt"}, {"note", "ünïcode"}});

  // The layout the format prescribes: an 8-aligned, space-padded JSON header, then the data.
  const std::string bytes = io::read_file(p);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  CHECK(n % 8 == 0);
  CHECK(bytes.size() == 8 + n + 4 * (a.size() + b.size() + scalar.size()));
  CHECK(bytes[8] == '{');
  const auto header = bytes.substr(8, n);
  CHECK(header.find_last_not_of(' ') == header.find_last_of('}'));

  io::safetensors_reader r(p);
  REQUIRE(r.tensors().size() == 4);
  // File order = the order given (the zero-size tensor sits at offset 24, before "h.0...").
  CHECK(r.tensors()[0].name == "wte.weight");
  CHECK(r.tensors()[1].name == "empty");
  CHECK(r.tensors()[2].name == "h.0.ln_1.bias");
  CHECK(r.tensors()[3].name == "scale");
  CHECK(r.info("wte.weight").shape == std::vector<rlhf::index_t>{2, 3});
  CHECK(r.info("wte.weight").type == io::dtype::f32);
  CHECK(r.info("wte.weight").begin == 0);
  CHECK(r.info("wte.weight").end == 24);
  CHECK(r.info("h.0.ln_1.bias").begin == 24);
  CHECK(r.info("scale").shape.empty());
  CHECK(r.info("scale").numel() == 1);
  CHECK(r.info("empty").numel() == 0);
  CHECK(r.contains("scale"));
  CHECK_FALSE(r.contains("lm_head.weight"));
  const auto got_a = r.read_f32("wte.weight");
  REQUIRE(got_a.size() == a.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    CHECK(std::bit_cast<std::uint32_t>(got_a[i]) == std::bit_cast<std::uint32_t>(a[i]));
  CHECK(r.read_f32("h.0.ln_1.bias") == b);
  CHECK(r.read_f32("scale") == scalar);
  CHECK(r.read_f32("empty").empty());
  std::vector<float> into(3);
  r.read_f32_into("h.0.ln_1.bias", into);
  CHECK(into == b);
  CHECK(r.metadata().at("format") == "pt");
  CHECK(r.metadata().at("note") == "ünïcode");
}

TEST_CASE("safetensors_reader reads F16 and BF16 tensors of a hand-made file", "[io][safetensors]") {
  rlhf::test::temp_dir dir;
  // F16: 1, -2, smallest subnormal, largest subnormal, 65504, +inf, -0; BF16: 1, -3.5, NaN.
  const std::string data = le16({0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x7c00, 0x8000}) + le16({0x3f80, 0xc060, 0x7fc0});
  const std::string header =
      R"({"half":{"dtype":"F16","shape":[7],"data_offsets":[0,14]},)"
      R"("brain":{"dtype":"BF16","shape":[1,3],"data_offsets":[14,20]}})";
  const auto p = dir.write("mixed.safetensors", make_file(header, data));
  io::safetensors_reader r(p);
  CHECK(r.metadata().empty());
  CHECK(r.info("half").type == io::dtype::f16);
  const auto h = r.read_f32("half");
  REQUIRE(h.size() == 7);
  CHECK(h[0] == 1.f);
  CHECK(h[1] == -2.f);
  CHECK(h[2] == std::ldexp(1.f, -24));
  CHECK(h[3] == std::ldexp(1023.f, -24));
  CHECK(h[4] == 65504.f);
  CHECK(std::isinf(h[5]));
  CHECK((h[6] == 0.f && std::signbit(h[6])));
  const auto b = r.read_f32("brain");
  CHECK(b[0] == 1.f);
  CHECK(b[1] == -3.5f);
  CHECK(std::isnan(b[2]));
}

TEST_CASE("safetensors_reader reports lookups and size mismatches clearly", "[io][safetensors]") {
  rlhf::test::temp_dir dir;
  const std::vector<float> x{1.f, 2.f};
  const std::vector<io::tensor_ref> t{{"x", {2}, x}};
  const auto p = dir / "m.safetensors";
  io::save_safetensors(p, t);
  io::safetensors_reader r(p);
  CHECK_THROWS_AS(r.info("y"), rlhf::format_error);
  CHECK_THROWS_WITH(r.read_f32("y"), Contains("\"y\"") && Contains("m.safetensors"));
  std::vector<float> small(1);
  CHECK_THROWS_AS(r.read_f32_into("x", small), rlhf::invalid_argument);
  CHECK_THROWS_AS(io::safetensors_reader(dir / "absent.safetensors"), rlhf::io_error);
}

TEST_CASE("save_safetensors rejects inconsistent input and keeps the old file", "[io][safetensors]") {
  rlhf::test::temp_dir dir;
  const auto p = dir.write("keep.safetensors", "old");
  const std::vector<float> x{1.f, 2.f, 3.f};
  const std::vector<io::tensor_ref> wrong_size{{"x", {2, 2}, x}};
  const std::vector<io::tensor_ref> duplicate{{"x", {3}, x}, {"x", {3}, x}};
  const std::vector<io::tensor_ref> reserved{{"__metadata__", {3}, x}};
  const std::vector<io::tensor_ref> negative{{"x", {-1, 3}, x}};
  CHECK_THROWS_AS(io::save_safetensors(p, wrong_size), rlhf::invalid_argument);
  CHECK_THROWS_AS(io::save_safetensors(p, duplicate), rlhf::invalid_argument);
  CHECK_THROWS_AS(io::save_safetensors(p, reserved), rlhf::invalid_argument);
  CHECK_THROWS_AS(io::save_safetensors(p, negative), rlhf::invalid_argument);
  CHECK(io::read_file(p) == "old");
  CHECK(dir.entries() == 1);
}

TEST_CASE("malformed safetensors files raise format_error naming the file and the problem",
          "[io][safetensors]") {
  rlhf::test::temp_dir dir;
  const std::string ok_entry = R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string data8(8, '\0');
  struct bad_case {
    const char* what;
    std::string bytes;
    const char* phrase;
  };
  std::string past_eof = make_file("{}", "");
  past_eof[0] = 100;  // claims a 100-byte header in a 10-byte file
  const std::vector<bad_case> cases{
      {"shorter than 8 bytes", "\x02\0\0\0", "truncated"},
      {"header length past EOF", past_eof, "past the end of the file"},
      {"bad JSON", make_file(R"({"x": {"dtype": )", data8), "not valid JSON"},
      {"header not an object", make_file("[1, 2]", data8), "not a JSON object"},
      {"offsets past the data", make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "1234"),
       "past the end of the 4-byte data buffer"},
      {"dtype x shape != bytes", make_file(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8),
       "needs 12 bytes"},
      {"F16 size mismatch", make_file(R"({"x":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", data8),
       "needs 4 bytes"},
      {"unsupported dtype", make_file(R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", data8),
       "unsupported dtype I64"},
      {"overlapping tensors",
       make_file("{" + ok_entry + R"(,"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", data8), "overlap"},
      {"begin > end", make_file(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", data8), "begin > end"},
      {"negative shape", make_file(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8),
       "not a non-negative integer"},
      {"missing data_offsets", make_file(R"({"x":{"dtype":"F32","shape":[2]}})", data8), "data_offsets"},
      {"missing dtype", make_file(R"({"x":{"shape":[2],"data_offsets":[0,8]}})", data8), "dtype"},
      {"non-string metadata", make_file(R"({"__metadata__":{"a":1},)" + ok_entry + "}", data8), "__metadata__"},
      {"overflowing shape",
       make_file(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", data8),
       "overflows"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const auto p = dir.write("bad.safetensors", c.bytes);
    CHECK_THROWS_AS(io::safetensors_reader(p), rlhf::format_error);
    CHECK_THROWS_WITH(io::safetensors_reader(p), Contains("bad.safetensors") && Contains(c.phrase));
  }
}
