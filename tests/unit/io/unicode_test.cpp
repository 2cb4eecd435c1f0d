// SPDX-License-Identifier: MIT
// The pre-tokenizer's character classes (io/detail/unicode.hpp, tables generated from the UCD by
// tools/unicode/generate.py): spot checks in the scripts the hand-written tables missed, the
// Unicode White_Space set, and the classes' effect on GPT-2's contraction rule.
#include <catch2/catch.hpp>

#include <cstddef>
#include <string_view>

#include "rlhf/io/detail/unicode.hpp"

using rlhf::io::detail::char_class;
using rlhf::io::detail::classify;

TEST_CASE("classify: letters and numbers of every script, from the UCD", "[io][unicode]") {
  for (char32_t cp : {U'a', U'Z', U'\u00E9', U'\u0995' /* Bengali KA */, U'\u0B95' /* Tamil KA */, U'\u0C95' /* Kannada KA */,
                      U'\u1780' /* Khmer KA */, U'\u1200' /* Ethiopic HA */, U'\u13A0' /* Cherokee A */, U'\u0710' /* Syriac ALAPH */,
                      U'\u07CA' /* N'Ko A */, U'\u1D00' /* small capital A */, U'\U0001D400' /* math bold A */,
                      U'\U00010330' /* Gothic AHSA */, U'\U00012000' /* cuneiform A */, U'\u4E2D', U'\uAC00', U'\u02B0'})
    CHECK(classify(cp) == char_class::letter);
  for (char32_t cp : {U'7', U'\u0663' /* Arabic-Indic 3 */, U'\u09E7' /* Bengali 1 */, U'\u0BE7' /* Tamil 1 */,
                      U'\u17E1' /* Khmer 1 */, U'\u216B' /* Roman XII, Nl */, U'\u00B2' /* superscript 2, No */,
                      U'\u2460' /* circled 1, No */, U'\U0001D7CE' /* math bold 0 */, U'\u3007' /* ideographic zero, Nl */})
    CHECK(classify(cp) == char_class::number);
  for (char32_t cp : {U' ', U'\t', U'\n', U'\u000B', U'\u0085', U'\u00A0', U'\u1680', U'\u2000', U'\u200A', U'\u2028',
                      U'\u2029', U'\u202F', U'\u205F', U'\u3000'})
    CHECK(classify(cp) == char_class::space);
  // Marks are not letters (GPT-2 splits "தமிழ்" at its virama), nor is the BOM space (not White_Space),
  // nor punctuation, symbols or unassigned code points.
  for (char32_t cp : {U'\u0BCD' /* Tamil virama, Mn */, U'\u0301' /* combining acute */, U'\uFEFF', U'\u200B', U'\'',
                      U'!', U'\u20AC', U'\U0001F600', U'\u0378' /* unassigned */, U'\U0010FFFF',
                      rlhf::io::detail::invalid_code_point})
    CHECK(classify(cp) == char_class::other);
}

TEST_CASE("the generated tables: sorted, disjoint, of the UCD version they name", "[io][unicode]") {
  using namespace rlhf::io::detail;
  STATIC_REQUIRE(ranges_sorted(letter_ranges) && ranges_sorted(number_ranges) && ranges_sorted(space_ranges));
  CHECK(std::string_view(unicode_tables_version) == "15.0.0");
  // The totals DerivedGeneralCategory.txt (the UCD's own derivation, not read by the generator)
  // gives for Unicode 15.0: Lu + Ll + Lt + Lm + Lo and Nd + Nl + No.
  const auto count = [](const auto& table) {
    std::size_t n = 0;
    for (const auto& r : table) n += r.hi - r.lo + 1;
    return n;
  };
  CHECK(count(letter_ranges) == 136'104);
  CHECK(count(number_ranges) == 1'831);
  CHECK(count(space_ranges) == 25);
}
