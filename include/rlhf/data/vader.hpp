// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// VADER sentiment intensity (Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based Model for
/// Sentiment Analysis of Social Media Text", ICWSM-14), scored exactly as the npm package
/// vader-sentiment 1.1.3 scores it: the gold reward of the rlhf program's built-in task.
///
/// The rules (§3 of the paper, as the package implements them): lexicon valences of the words,
/// ALL-CAPS emphasis when only some words are capitalised (±0.733), booster/dampener words up to
/// three words before a sentiment word (±0.293, scaled 1, 0.95, 0.9 by distance), negation in
/// that window (×−0.74), "never so/this" (×1.5, ×1.25), "least", the contrastive "but" (earlier
/// words ×0.5, later ×1.5), idioms, exclamation marks (+0.292 each, up to 4) and question marks
/// (2-3: +0.18 each, more: +0.96), and compound = s / sqrt(s² + 15). docs/vader.md lists every
/// place where the package departs from the paper (it is followed here) and how this port is
/// checked against the package's own output on 4,437 real sentences (bit-identical).
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "rlhf/core/error.hpp"
#include "rlhf/io/atomic_file.hpp"
#include "rlhf/io/detail/unicode.hpp"

namespace rlhf::data {

/// What VADER reports for a text: the fractions of negative, neutral and positive weight
/// (summing to 1, or all 0 for a text without words) and the normalised compound score in
/// [−1, 1]. At full double precision; vader::printed gives the package's rounded output.
struct vader_scores {
  double neg = 0.0;
  double neu = 0.0;
  double pos = 0.0;
  double compound = 0.0;
};

namespace detail::vader_rules {

// The package's constants (the paper's empirically derived increments, §3.2).
inline constexpr double booster_increment = 0.293;
inline constexpr double caps_increment = 0.733;
inline constexpr double negation_scalar = -0.74;
inline constexpr double exclamation_increment = 0.292;
inline constexpr double question_increment = 0.18;
inline constexpr double question_cap = 0.96;
inline constexpr double normalisation_alpha = 15.0;

struct weighted_word {
  std::string_view word;
  double weight;
};

/// Degree adverbs (boosters +, dampeners −), as the package lists them. The three multi-word
/// entries can only match the two-word sequences the idiom rule builds (a word never holds a space).
inline constexpr std::array boosters{
    weighted_word{"absolutely", booster_increment},   weighted_word{"amazingly", booster_increment},
    weighted_word{"awfully", booster_increment},      weighted_word{"completely", booster_increment},
    weighted_word{"considerably", booster_increment}, weighted_word{"decidedly", booster_increment},
    weighted_word{"deeply", booster_increment},       weighted_word{"effing", booster_increment},
    weighted_word{"enormously", booster_increment},   weighted_word{"entirely", booster_increment},
    weighted_word{"especially", booster_increment},   weighted_word{"exceptionally", booster_increment},
    weighted_word{"extremely", booster_increment},    weighted_word{"fabulously", booster_increment},
    weighted_word{"flipping", booster_increment},     weighted_word{"flippin", booster_increment},
    weighted_word{"fricking", booster_increment},     weighted_word{"frickin", booster_increment},
    weighted_word{"frigging", booster_increment},     weighted_word{"friggin", booster_increment},
    weighted_word{"fully", booster_increment},        weighted_word{"fucking", booster_increment},
    weighted_word{"greatly", booster_increment},      weighted_word{"hella", booster_increment},
    weighted_word{"highly", booster_increment},       weighted_word{"hugely", booster_increment},
    weighted_word{"incredibly", booster_increment},   weighted_word{"intensely", booster_increment},
    weighted_word{"majorly", booster_increment},      weighted_word{"more", booster_increment},
    weighted_word{"most", booster_increment},         weighted_word{"particularly", booster_increment},
    weighted_word{"purely", booster_increment},       weighted_word{"quite", booster_increment},
    weighted_word{"really", booster_increment},       weighted_word{"remarkably", booster_increment},
    weighted_word{"so", booster_increment},           weighted_word{"substantially", booster_increment},
    weighted_word{"thoroughly", booster_increment},   weighted_word{"totally", booster_increment},
    weighted_word{"tremendously", booster_increment}, weighted_word{"uber", booster_increment},
    weighted_word{"unbelievably", booster_increment}, weighted_word{"unusually", booster_increment},
    weighted_word{"utterly", booster_increment},      weighted_word{"very", booster_increment},
    weighted_word{"almost", -booster_increment},      weighted_word{"barely", -booster_increment},
    weighted_word{"hardly", -booster_increment},      weighted_word{"just enough", -booster_increment},
    weighted_word{"kind of", -booster_increment},     weighted_word{"kinda", -booster_increment},
    weighted_word{"kindof", -booster_increment},      weighted_word{"kind-of", -booster_increment},
    weighted_word{"less", -booster_increment},        weighted_word{"little", -booster_increment},
    weighted_word{"marginally", -booster_increment},  weighted_word{"occasionally", -booster_increment},
    weighted_word{"partly", -booster_increment},      weighted_word{"scarcely", -booster_increment},
    weighted_word{"slightly", -booster_increment},    weighted_word{"somewhat", -booster_increment},
    weighted_word{"sort of", -booster_increment},     weighted_word{"sorta", -booster_increment},
    weighted_word{"sortof", -booster_increment},      weighted_word{"sort-of", -booster_increment},
};

/// Idioms whose valence replaces the sentiment word's (the package's list; matched case-sensitively).
inline constexpr std::array idioms{
    weighted_word{"the shit", 3.0},      weighted_word{"the bomb", 3.0},         weighted_word{"bad ass", 1.5},
    weighted_word{"yeah right", -2.0},   weighted_word{"cut the mustard", 2.0},  weighted_word{"kiss of death", -1.5},
    weighted_word{"hand to mouth", -2.0},
};

/// Negations (matched case-sensitively, as the package does); any word containing "n't" negates too.
inline constexpr std::array<std::string_view, 59> negations{
    "aint",    "arent",    "cannot",   "cant",     "couldnt",  "darent",   "didnt",    "doesnt",   "ain't",
    "aren't",  "can't",    "couldn't", "daren't",  "didn't",   "doesn't",  "dont",     "hadnt",    "hasnt",
    "havent",  "isnt",     "mightnt",  "mustnt",   "neither",  "don't",    "hadn't",   "hasn't",   "haven't",
    "isn't",   "mightn't", "mustn't",  "neednt",   "needn't",  "never",    "none",     "nope",     "nor",
    "not",     "nothing",  "nowhere",  "oughtnt",  "shant",    "shouldnt", "uhuh",     "wasnt",    "werent",
    "oughtn't", "shan't",  "shouldn't", "uh-uh",   "wasn't",   "weren't",  "without",  "wont",     "wouldnt",
    "won't",   "wouldn't", "rarely",   "seldom",   "despite",
};

/// The punctuation runs the package strips from the start or end of a word ("great!!" -> "great");
/// any other run ("great...", "(great") stays part of the word.
inline constexpr std::array<std::string_view, 17> strippable_runs{
    ".", "!", "?", ",", ";", ":", "-", "'", "\"", "!!", "!!!", "??", "???", "?!?", "!?!", "?!?!", "!?!?",
};

inline const weighted_word* find(std::span<const weighted_word> table, std::string_view w) noexcept {
  for (const auto& e : table)
    if (e.word == w) return &e;
  return nullptr;
}
inline const weighted_word* booster(std::string_view w) noexcept { return find(boosters, w); }
inline const weighted_word* idiom(std::string_view w) noexcept { return find(idioms, w); }

/// The package's negation test of one word: a listed negation, or any word containing "n't".
inline bool negates(std::string_view w) noexcept {
  return std::find(negations.begin(), negations.end(), w) != negations.end() || w.find("n't") != std::string_view::npos;
}

/// ASCII punctuation: the 32 characters of the package's punctuation regex (Python's string.punctuation).
constexpr bool is_ascii_punct(char c) noexcept {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

/// JavaScript's \s: the characters String.prototype.split(/\s/) splits on (ECMA-262 WhiteSpace
/// and LineTerminator: Unicode Zs, tab, line/paragraph separators, the BOM).
constexpr bool is_js_space(char32_t c) noexcept {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

/// A word's length as JavaScript counts it (UTF-16 code units): characters beyond the BMP count
/// two, a byte that is not UTF-8 one (the U+FFFD a decoder puts in its place).
inline std::size_t js_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp;
    i += io::detail::decode_utf8(s, i, cp);
    n += (cp != io::detail::invalid_code_point && cp > 0xFFFF) ? 2 : 1;
  }
  return n;
}

/// String.prototype.toLowerCase as far as it can change a lexicon match: ASCII, Latin-1
/// (U+00C0-U+00DE but U+00D7) and the Kelvin sign (U+212A, the one non-ASCII character that
/// lowercases to ASCII). Other characters are kept, which is exact for every lexicon whose
/// non-ASCII entries use only Latin-1 letters (the package's does: ":Þ", ":-Þ"); docs/vader.md.
inline std::string js_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp;
    const std::size_t len = io::detail::decode_utf8(s, i, cp);
    if (cp >= 'A' && cp <= 'Z') {
      out += static_cast<char>(cp + 32);
    } else if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) {  // two UTF-8 bytes, C3 80-9E -> C3 A0-BE
      out += s[i];
      out += static_cast<char>(s[i + 1] + 0x20);
    } else if (cp == 0x212A) {
      out += 'k';
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

/// The package's "ALL CAPS" test (/^[^a-z]*[A-Z]+[^a-z]*$/): an ASCII capital and no ASCII
/// lower-case letter. (Not Python's str.isupper, which the package's comment names.)
constexpr bool is_all_caps(std::string_view w) noexcept {
  bool upper = false;
  for (char c : w) {
    if (c >= 'a' && c <= 'z') return false;
    upper = upper || (c >= 'A' && c <= 'Z');
  }
  return upper;
}

/// The words of `text` as the package's SentiText sees them: split at every JavaScript
/// whitespace character, pieces of length <= 1 dropped, and a word that is w plus a strippable
/// punctuation run before or after it (w without ASCII punctuation, longer than one) taken as w.
/// (The package builds a dictionary of every such spelling of every word; this is the same
/// mapping, word by word.) Emoticons and contractions ("don't", ":)") are kept as they are.
inline std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  auto take = [&](std::string_view t) {
    if (js_length(t) <= 1) return;
    const auto lead = static_cast<std::size_t>(
        std::find_if_not(t.begin(), t.end(), is_ascii_punct) - t.begin());
    const auto trail = static_cast<std::size_t>(
        std::find_if_not(t.rbegin(), t.rend(), is_ascii_punct) - t.rbegin());
    auto bare = [](std::string_view w) {
      return js_length(w) > 1 && std::none_of(w.begin(), w.end(), is_ascii_punct);
    };
    auto strippable = [](std::string_view run) {
      return std::find(strippable_runs.begin(), strippable_runs.end(), run) != strippable_runs.end();
    };
    if (lead > 0 && lead < t.size() && strippable(t.substr(0, lead)) && bare(t.substr(lead))) {
      out.emplace_back(t.substr(lead));
    } else if (trail > 0 && trail < t.size() && strippable(t.substr(t.size() - trail)) &&
               bare(t.substr(0, t.size() - trail))) {
      out.emplace_back(t.substr(0, t.size() - trail));
    } else {
      out.emplace_back(t);
    }
  };
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp;
    const std::size_t len = io::detail::decode_utf8(text, i, cp);
    if (is_js_space(cp)) {
      take(text.substr(start, i - start));
      start = i + len;
    }
    i += len;
  }
  take(text.substr(start));
  return out;
}

/// parseFloat(x.toFixed(digits)): x rounded to `digits` decimals as JavaScript does it, from the
/// exact value of the double, an exact tie going to the larger magnitude (ECMA-262 Number.
/// prototype.toFixed picks the larger n). std::to_chars rounds exact ties to even instead, so
/// they are handled apart: |x| is a tie exactly when |x|·2^(digits+1) is an odd integer.
inline double js_to_fixed(double x, int digits) {
  const double mag = std::fabs(x);
  const double scaled = std::ldexp(mag, digits + 1);
  const double pow5 = std::pow(5.0, digits);
  double r = 0.0;
  if (scaled == std::floor(scaled) && std::fmod(scaled, 2.0) == 1.0 && scaled * pow5 < 0x1p52) {
    r = (scaled * pow5 + 1.0) / 2.0 / std::pow(10.0, digits);  // exact integers; one rounding
  } else {
    char buf[400];
    const auto end = std::to_chars(buf, buf + sizeof buf, mag, std::chars_format::fixed, digits).ptr;
    std::from_chars(buf, end, r);
  }
  return std::signbit(x) ? -r : r;
}

}  // namespace detail::vader_rules

/// The VADER sentiment analyser of the npm package vader-sentiment 1.1.3 (Hutto & Gilbert 2014),
/// on its lexicon file vader_lexicon.txt (7,517 lines "word<TAB>mean<TAB>sd<TAB>[ratings]").
///
///   rlhf::data::vader v("…/vader-sentiment-1.1.3/package/vader_lexicon.txt");
///   double r = v.polarity_scores("The plot was GREAT, but the acting was awful!").compound;
///
/// Scores are the package's numbers at full precision (vader::printed rounds them as the
/// package prints them); the lexicon is read once and the object is immutable (thread-safe).
class vader {
 public:
  /// Reads the lexicon. A word listed twice keeps its last valence (the package's lexicon is a
  /// JavaScript object literal built from this file, where the last key wins).
  /// @throws rlhf::io_error when the file cannot be read, naming it, and for a malformed line,
  ///   naming FILE:LINE and what is wrong
  explicit vader(const std::filesystem::path& lexicon_file) {
    std::string text;
    try {
      text = io::read_file(lexicon_file);
    } catch (const io_error& e) {
      RLHF_THROW(io_error, e.what(), " (the VADER lexicon is vader_lexicon.txt of the npm package vader-sentiment "
                                     "1.1.3; `rlhf fetch` downloads it)");
    }
    std::size_t line_no = 0;
    std::string_view rest = text;
    while (!rest.empty()) {
      ++line_no;
      const auto nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      auto fail = [&](const char* what) {
        RLHF_THROW(io_error, lexicon_file.string(), ":", line_no, ": ", what,
                   "; each line must be \"word<TAB>mean<TAB>sd<TAB>[ratings]\" (a damaged vader_lexicon.txt: "
                   "delete the cache's vader-sentiment directory and run `rlhf fetch` again)");
      };
      const auto tab = line.find('\t');
      if (line.empty()) fail("empty line");
      if (tab == std::string_view::npos) fail("no tab after the word");
      if (tab == 0) fail("empty word");
      const std::string_view mean = line.substr(tab + 1, line.find('\t', tab + 1) - (tab + 1));
      double v = 0.0;
      const auto [end, ec] = std::from_chars(mean.data(), mean.data() + mean.size(), v);
      if (mean.empty() || ec != std::errc{} || end != mean.data() + mean.size() || !std::isfinite(v))
        fail("the mean valence is not a number");
      if (v < -4.0 || v > 4.0) fail("the mean valence is outside VADER's scale [-4, 4]");
      lexicon_.insert_or_assign(std::string(line.substr(0, tab)), v);
    }
    if (lexicon_.empty()) RLHF_THROW(io_error, lexicon_file.string(), ": no lexicon entries (an empty file)");
  }

  /// Number of distinct lexicon entries.
  std::size_t lexicon_size() const noexcept { return lexicon_.size(); }

  /// The lexicon valence of `word` as the package looks it up (lower-cased), or nullptr.
  const double* valence(std::string_view word) const {
    const auto it = lexicon_.find(detail::vader_rules::js_lower(word));
    return it == lexicon_.end() ? nullptr : &it->second;
  }

  /// VADER's scores of `text` (UTF-8; bytes that are not UTF-8 count as one character each).
  vader_scores polarity_scores(std::string_view text) const {
    namespace r = detail::vader_rules;
    const std::vector<std::string> w = r::words(text);
    const std::size_t n = w.size();
    if (n == 0) return {};
    std::vector<std::string> low(n);
    std::vector<const double*> lex(n);
    std::vector<char> caps(n);
    std::size_t n_caps = 0;
    for (std::size_t i = 0; i < n; ++i) {
      low[i] = r::js_lower(w[i]);
      const auto it = lexicon_.find(low[i]);
      lex[i] = it == lexicon_.end() ? nullptr : &it->second;
      caps[i] = r::is_all_caps(w[i]);
      n_caps += caps[i] ? 1 : 0;
    }
    // Capitals emphasise only when some, not all, words are capitalised.
    const bool caps_differ = n_caps > 0 && n_caps < n;

    std::vector<double> s(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      if ((i + 1 < n && low[i] == "kind" && low[i + 1] == "of") || r::booster(low[i]) != nullptr) continue;
      if (lex[i] == nullptr) continue;
      double v = *lex[i];
      if (caps[i] && caps_differ) {
        if (v > 0) v += r::caps_increment;
        else v -= r::caps_increment;
      }
      // The three words before: boosters/dampeners (scaled by distance) and negations, and the
      // idioms once the window is full. A window word that is itself in the lexicon is skipped
      // with all its rules (so the idiom rule needs a non-lexicon word three back).
      for (std::size_t k = 0; k < 3; ++k) {
        if (i <= k || lex[i - k - 1] != nullptr) continue;
        const std::size_t j = i - k - 1;
        double scalar = 0.0;
        if (const auto* b = r::booster(low[j])) {
          scalar = b->weight;
          if (v < 0) scalar *= -1;
          if (caps_differ && caps[j]) {
            if (v > 0) scalar += r::caps_increment;
            else scalar -= r::caps_increment;
          }
        }
        if (k == 1 && scalar != 0) scalar = scalar * 0.95;
        else if (k == 2 && scalar != 0) scalar = scalar * 0.9;
        v = v + scalar;
        v = never_rule(v, w, k, i);
        if (k == 2) v = idiom_rule(v, w, i);
      }
      // "least X" negates X, but not "at least X" or "very least X".
      if (i > 1 && low[i - 1] == "least" && lex[i - 1] == nullptr) {
        if (low[i - 2] != "at" && low[i - 2] != "very") v = v * r::negation_scalar;
      } else if (i > 0 && low[i - 1] == "least" && lex[i - 1] == nullptr) {
        v = v * r::negation_scalar;
      }
      s[i] = v;
    }

    // The contrastive "but": the first "but" (or, if none, "BUT") halves what precedes it and
    // adds half to what follows.
    auto but = std::find(w.begin(), w.end(), "but");
    if (but == w.end()) but = std::find(w.begin(), w.end(), "BUT");
    if (but != w.end()) {
      const auto b = static_cast<std::size_t>(but - w.begin());
      for (std::size_t i = 0; i < n; ++i) {
        if (i < b) s[i] = s[i] * 0.5;
        else if (i > b) s[i] = s[i] * 1.5;
      }
    }
    return score(s, text);
  }

  /// `s` rounded as the package prints it: neg, neu, pos to 3 decimals, compound to 4
  /// (JavaScript's toFixed, then parseFloat).
  static vader_scores printed(const vader_scores& s) {
    using detail::vader_rules::js_to_fixed;
    return {js_to_fixed(s.neg, 3), js_to_fixed(s.neu, 3), js_to_fixed(s.pos, 3), js_to_fixed(s.compound, 4)};
  }

 private:
  /// Negation in the window, and "never so/this X" (×1.5 at distance 2, ×1.25 at 3). The words are
  /// compared as written (case-sensitive), as in the package.
  static double never_rule(double v, const std::vector<std::string>& w, std::size_t k, std::size_t i) {
    namespace r = detail::vader_rules;
    auto so_or_this = [](const std::string& x) { return x == "so" || x == "this"; };
    if (k == 0) {
      if (r::negates(w[i - 1])) v = v * r::negation_scalar;
    } else if (k == 1) {
      if (w[i - 2] == "never" && so_or_this(w[i - 1])) v = v * 1.5;
      else if (r::negates(w[i - 2])) v = v * r::negation_scalar;
    } else {
      // The package's test: "never so/this" at distance 3-2, or "so"/"this" right before the word.
      if ((w[i - 3] == "never" && so_or_this(w[i - 2])) || so_or_this(w[i - 1])) v = v * 1.25;
      else if (r::negates(w[i - 3])) v = v * r::negation_scalar;
    }
    return v;
  }

  /// Idioms around the word (its valence becomes the idiom's) and the two-word dampeners
  /// ("kind of", "sort of", "just enough") two or three words back. Case-sensitive, as in the package.
  static double idiom_rule(double v, const std::vector<std::string>& w, std::size_t i) {
    namespace r = detail::vader_rules;
    const std::size_t n = w.size();
    auto join = [&](std::size_t a, std::size_t b) { return w[a] + ' ' + w[b]; };
    const std::string one_zero = join(i - 1, i), two_one = join(i - 2, i - 1), three_two = join(i - 3, i - 2);
    const std::string two_one_zero = w[i - 2] + ' ' + one_zero, three_two_one = w[i - 3] + ' ' + two_one;
    for (const std::string* seq : {&one_zero, &two_one_zero, &two_one, &three_two_one, &three_two}) {
      if (const auto* m = r::idiom(*seq)) {
        v = m->weight;
        break;
      }
    }
    if (n - 1 > i) {
      if (const auto* m = r::idiom(join(i, i + 1))) v = m->weight;
    }
    if (n - 1 > i + 1) {
      if (const auto* m = r::idiom(join(i, i + 1) + ' ' + w[i + 2])) v = m->weight;
    }
    if (r::booster(three_two) != nullptr || r::booster(two_one) != nullptr) v = v + -r::booster_increment;
    return v;
  }

  /// Sum, punctuation emphasis, compound normalisation and the neg/neu/pos fractions.
  static vader_scores score(const std::vector<double>& s, std::string_view text) {
    namespace r = detail::vader_rules;
    double sum = 0.0;
    for (double x : s) sum += x;
    const auto bangs = std::min<std::ptrdiff_t>(std::count(text.begin(), text.end(), '!'), 4);
    const auto questions = std::count(text.begin(), text.end(), '?');
    const double bang_amp = static_cast<double>(bangs) * r::exclamation_increment;
    double question_amp = 0.0;
    if (questions > 1) question_amp = questions <= 3 ? static_cast<double>(questions) * r::question_increment : r::question_cap;
    const double amp = bang_amp + question_amp;
    if (sum > 0) sum += amp;
    else if (sum < 0) sum -= amp;
    const double norm = sum / std::sqrt(sum * sum + r::normalisation_alpha);
    vader_scores out;
    out.compound = std::clamp(norm, -1.0, 1.0);

    double pos = 0.0, neg = 0.0;
    std::size_t neutral = 0;
    for (double x : s) {
      if (x > 0) pos += x + 1;  // +1 / -1: a sentiment word weighs one more than a neutral one
      else if (x < 0) neg += x - 1;
      else ++neutral;
    }
    if (pos > std::fabs(neg)) pos += amp;
    else if (pos < std::fabs(neg)) neg -= amp;
    const double total = pos + std::fabs(neg) + static_cast<double>(neutral);
    out.pos = std::fabs(pos / total);
    out.neg = std::fabs(neg / total);
    out.neu = std::fabs(static_cast<double>(neutral) / total);
    return out;
  }

  std::unordered_map<std::string, double> lexicon_;
};

}  // namespace rlhf::data
