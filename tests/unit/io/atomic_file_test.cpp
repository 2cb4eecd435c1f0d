// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "rlhf/io/atomic_file.hpp"
#include "temp_dir.hpp"

using Catch::Matchers::Contains;

TEST_CASE("write_atomically creates and replaces a file", "[io][atomic_file]") {
  rlhf::test::temp_dir dir;
  const auto p = dir / "out.txt";
  rlhf::io::write_atomically(p, [](std::ostream& os) { os << "first"; });
  CHECK(rlhf::io::read_file(p) == "first");
  rlhf::io::write_atomically(p, [](std::ostream& os) { os << "second, longer"; });
  CHECK(rlhf::io::read_file(p) == "second, longer");
  CHECK(dir.entries() == 1);  // no temporary left behind
}

TEST_CASE("write_atomically leaves the existing file intact when the writer fails", "[io][atomic_file]") {
  rlhf::test::temp_dir dir;
  const auto p = dir.write("model.bin", "good checkpoint");
  SECTION("an rlhf::error from the writer propagates unchanged") {
    CHECK_THROWS_AS(rlhf::io::write_atomically(p,
                                               [](std::ostream& os) {
                                                 os << "half-writ";
                                                 RLHF_THROW(rlhf::invalid_argument, "bad tensor");
                                               }),
                    rlhf::invalid_argument);
  }
  SECTION("any other exception becomes an io_error naming the path") {
    CHECK_THROWS_WITH(rlhf::io::write_atomically(p,
                                                 [](std::ostream& os) {
                                                   os << "half-writ";
                                                   throw std::runtime_error("disk on fire");
                                                 }),
                      Contains("model.bin") && Contains("disk on fire"));
  }
  SECTION("a stream that goes bad is detected") {
    CHECK_THROWS_AS(rlhf::io::write_atomically(p, [](std::ostream& os) { os.setstate(std::ios::badbit); }),
                    rlhf::io_error);
  }
  CHECK(rlhf::io::read_file(p) == "good checkpoint");
  CHECK(dir.entries() == 1);
}

TEST_CASE("write_atomically and read_file report bad paths as io_error naming them", "[io][atomic_file]") {
  rlhf::test::temp_dir dir;
  const auto missing_dir = dir / "no_such_dir" / "out.txt";
  CHECK_THROWS_AS(rlhf::io::write_atomically(missing_dir, [](std::ostream& os) { os << "x"; }), rlhf::io_error);
  CHECK_THROWS_WITH(rlhf::io::write_atomically(missing_dir, [](std::ostream& os) { os << "x"; }),
                    Contains("no_such_dir"));
  CHECK_THROWS_AS(rlhf::io::write_atomically(dir.path(), [](std::ostream& os) { os << "x"; }), rlhf::io_error);
  CHECK_THROWS_AS(rlhf::io::read_file(dir / "absent.txt"), rlhf::io_error);
  CHECK_THROWS_WITH(rlhf::io::read_file(dir / "absent.txt"), Contains("absent.txt"));
  CHECK_THROWS_AS(rlhf::io::read_file(dir.path()), rlhf::io_error);
}

TEST_CASE("read_file returns every byte, including NUL and high bytes", "[io][atomic_file]") {
  rlhf::test::temp_dir dir;
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  const auto p = dir.write("bytes.bin", bytes);
  CHECK(rlhf::io::read_file(p) == bytes);
  CHECK(rlhf::io::read_file(dir.write("empty", "")).empty());
}

TEST_CASE("atomic_output_file shows the file only after commit", "[io][atomic_file]") {
  rlhf::test::temp_dir dir;
  const auto p = dir.write("log.jsonl", "old");
  {
    rlhf::io::atomic_output_file f(p);
    f.stream() << "new line 1\n";
    CHECK(rlhf::io::read_file(p) == "old");  // not visible while being written
    f.stream() << "new line 2\n";
    f.commit();
    CHECK_THROWS_AS(f.commit(), rlhf::io_error);
  }
  CHECK(rlhf::io::read_file(p) == "new line 1\nnew line 2\n");
  {
    rlhf::io::atomic_output_file f(p);
    f.stream() << "abandoned";
  }  // no commit: an error path
  CHECK(rlhf::io::read_file(p) == "new line 1\nnew line 2\n");
  CHECK(dir.entries() == 1);
}
