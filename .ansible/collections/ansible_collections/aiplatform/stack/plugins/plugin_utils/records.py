# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""The callback's files on disk: damage tolerated, writes atomic, sizes bounded, private.

- A damaged line of events.jsonl (a truncated last line after a crash, garbage) is skipped and counted, never fatal.
- A damaged JSON file (empty, `[]`, garbage) reads as "nothing recorded" with the reason, and is kept aside.
- Whole-file writes go to a temporary file that is fsynced, then renamed over the old one (and the directory
  fsynced): a crash leaves the old file or the new one, never half of one.
- events.jsonl is rotated by size; per-run reports are pruned to a count; files are 0600 in a 0700 directory.
"""
from __future__ import annotations

import glob
import json
import os
import tempfile
import time

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str) -> str:
    """Create `path` 0700, or tighten it to 0700 when it is ours (a shared directory of someone else is left)."""
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    st = os.stat(path)
    if st.st_mode & 0o077 and st.st_uid == os.getuid():
        os.chmod(path, DIR_MODE)
    return path


def open_append(path: str):
    """The file opened for appending (0600, tightened if it was wider), starting on a fresh line.

    A line cut short by a crash would glue the next event to it and damage both: a newline is added first.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    if os.fstat(fd).st_mode & 0o077:
        os.fchmod(fd, FILE_MODE)
    size = os.fstat(fd).st_size
    if size:
        with open(path, "rb") as fh:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                os.write(fd, b"\n")
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)


def write_atomic(path: str, text: str) -> str:
    """Replace `path` with `text` (0600) all at once, durable when this returns."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def valid_event(obj: object) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("type"), str) and isinstance(obj.get("service"), str)
            and isinstance(obj.get("time"), (int, float)))


def read_events(path: str, skip_run: str | None = None) -> tuple[list[dict], int]:
    """The well-formed events of a JSON lines file (not those of run `skip_run`), and how many lines were damaged."""
    events, damaged = [], 0
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return [], 0
    with fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                damaged += 1
                continue
            if not valid_event(obj):
                damaged += 1
            elif skip_run is None or obj.get("run_id") != skip_run:
                events.append(obj)
    return events, damaged


def read_lines(path: str, start: int = 0, end: int | None = None) -> list[str]:
    """The lines of a text file between two byte offsets (what one run appended, or what came before it)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read() if end is None else fh.read(max(0, end - start))
    except FileNotFoundError:
        return []
    return data.decode("utf-8", "replace").splitlines()


def load_object(path: str) -> tuple[dict, str | None]:
    """A JSON object file as a dict, or ({}, why) when it is missing (why None), empty, not an object or garbage.

    A damaged file is renamed to `<name>.damaged-<time>` so the next write does not destroy the evidence.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except FileNotFoundError:
        return {}, None
    try:
        data = json.loads(text)
        problem = None if isinstance(data, dict) else f"holds {type(data).__name__}, not an object"
    except ValueError as exc:
        data, problem = None, ("is empty" if not text.strip() else f"is not JSON ({exc.msg})")
    if problem is None:
        return data, None
    aside = f"{path}.damaged-{time.strftime('%Y%m%d%H%M%S')}"
    try:
        os.replace(path, aside)
    except OSError:
        aside = path
    return {}, f"{os.path.basename(path)} {problem}; started afresh (kept as {os.path.basename(aside)})"


def rotate(path: str, max_bytes: int, keep: int = 3) -> bool:
    """When `path` is larger than `max_bytes`: path -> path.1 -> ... -> path.<keep> (the oldest dropped)."""
    try:
        if max_bytes <= 0 or os.path.getsize(path) <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for i in range(keep, 0, -1):
        older = f"{path}.{i}"
        if i == keep and os.path.exists(older):
            os.unlink(older)
        elif os.path.exists(older):
            os.replace(older, f"{path}.{i + 1}")
    os.replace(path, f"{path}.1")
    return True


def prune(directory: str, pattern: str, keep: int, protect: str | None = None) -> list[str]:
    """Delete the oldest files matching `pattern` beyond the newest `keep` (never `protect`); returns them."""
    files = sorted(glob.glob(os.path.join(directory, pattern)), key=lambda p: (os.path.getmtime(p), p), reverse=True)
    removed = []
    for path in files[max(keep, 0):]:
        if protect and os.path.abspath(path) == os.path.abspath(protect):
            continue
        os.unlink(path)
        removed.append(path)
    return removed
