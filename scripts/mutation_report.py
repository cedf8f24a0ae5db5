"""Score of a mutmut run (scripts/mutation.sh) per file, held against the survivors explained in a Markdown file.

Run from the folder mutmut ran in, with mutmut's venv. A survivor is written `- FILE:LINE ``BEFORE`` → ``AFTER``: why`;
it matches a mutant by FILE, BEFORE and AFTER (the line number is for the reader: it moves when code above it does).
Exit 1 when a file is under the threshold or a mutant that was not killed is not explained.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from mutmut.mutation.diff_apply import get_diff_for_mutant

THRESHOLD = 0.90
# exit codes of a mutant's test run (mutmut.stats.status_by_exit_code): the tests failed, or hung (a timeout)
KILLED = {1, 3, -24, 24, 152, 255, 36}
ENTRY = re.compile(r"^- (?P<file>[\w.]+):(?P<line>\d+) ``(?P<before>.*?)`` → ``(?P<after>.*?)``")


def explained(path: Path) -> set[tuple[str, str, str]]:
    if not path.exists():
        return set()
    found = set()
    for line in path.read_text().splitlines():
        m = ENTRY.match(line)
        if m:
            found.add((m["file"], m["before"], m["after"]))
    return found


def mutation(source_path: str, name: str, source: list[str]) -> tuple[int, str, str]:
    """(line in the file, the line before, the line after) of one mutant; lines of a multi-line change joined by ' / '."""
    diff = get_diff_for_mutant(name, path=source_path).splitlines()
    before = [d[1:].strip() for d in diff if d.startswith("-") and not d.startswith("---")]
    after = [d[1:].strip() for d in diff if d.startswith("+") and not d.startswith("+++")]
    # the mutated function's own lines: the same line may stand in two functions
    function = re.sub(r"__mutmut_\d+$", "", name.rpartition(".")[2]).rpartition("ǁ")[2].removeprefix("x_")
    start = next((i for i, text in enumerate(source) if re.match(rf"\s*def {re.escape(function)}\(", text)), 0)
    line = next((i + 1 for i, text in enumerate(source) if i >= start and before and text.strip() == before[0]), 0)
    return line, " / ".join(before), " / ".join(after)


def main() -> int:
    survivors_file = Path(sys.argv[1])
    subset = len(sys.argv) > 2
    known = explained(survivors_file)
    failed = False
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        source_path = str(meta.relative_to("mutants"))[: -len(".meta")]
        source = Path(source_path).read_text().splitlines()
        codes = {k: v for k, v in json.loads(meta.read_text())["exit_code_by_key"].items() if v is not None}
        if not codes:
            continue
        name = Path(source_path).name
        killed = sum(1 for v in codes.values() if v in KILLED)
        score = killed / len(codes)
        print(f"{name}: {killed}/{len(codes)} killed ({score:.1%}){' of the mutants asked for' if subset else ''}")
        if score < THRESHOLD:
            print(f"  under {THRESHOLD:.0%}")
            failed = True
        unexplained = []
        for key, code in sorted(codes.items()):
            if code in KILLED:
                continue
            line, before, after = mutation(source_path, key, source)
            if (name, before, after) not in known:
                status = "no test runs it" if code in (5, 33) else "survived" if code == 0 else f"exit {code}"
                unexplained.append((line, f"- {name}:{line} ``{before}`` → ``{after}``: ({status}; {key})"))
        if unexplained:
            failed = True
            print(f"  {len(unexplained)} not killed and not explained in {survivors_file.name}:")
            for dummy, entry in sorted(unexplained):
                print("  " + entry)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
