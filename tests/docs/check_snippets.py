#!/usr/bin/env python3
"""The docs' C++ is code that builds: every ```cpp block of the pages given is either
   - an excerpt of a file that CI compiles, named by a line `<!-- snippet: PATH -->` just above
     the block (PATH relative to the repository root); its non-blank lines must appear in that
     file in the same order, each equal after stripping surrounding spaces; or
   - a sketch, whose first line is `// sketch: not compiled`.
Usage: check_snippets.py REPO_ROOT PAGE_OR_DIR... ; exit 1 with file:line of each failure."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
pages = []
for arg in sys.argv[2:]:
    p = root / arg
    pages += sorted(p.rglob("*.md")) if p.is_dir() else [p]

failures, checked = [], 0
for page in pages:
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if not re.match(r"^\s*```(cpp|c\+\+)\s*$", lines[i]):
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        body = [l.strip() for l in lines[start + 1:j] if l.strip()]
        where = f"{page.relative_to(root)}:{start + 1}"
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        tag = re.match(r"^\s*<!--\s*snippet:\s*(\S+)\s*-->\s*$", lines[k]) if k >= 0 else None
        checked += 1
        if body and body[0] == "// sketch: not compiled":
            pass
        elif tag:
            src = root / tag.group(1)
            if not src.is_file():
                failures.append(f"{where}: snippet source {tag.group(1)} does not exist")
            else:
                text = [l.strip() for l in src.read_text(encoding="utf-8").splitlines()]
                pos = 0
                for line in body:
                    try:
                        pos = text.index(line, pos) + 1
                    except ValueError:
                        failures.append(f"{where}: line not found (in order) in {tag.group(1)}: {line}")
                        break
        else:
            failures.append(f"{where}: a C++ block must be an excerpt (<!-- snippet: PATH --> above it) "
                            "or start with // sketch: not compiled")
        i = j + 1

for f in failures:
    print(f, file=sys.stderr)
print(f"docs snippets: {checked} C++ blocks in {len(pages)} pages, {len(failures)} failures")
sys.exit(1 if failures else 0)
