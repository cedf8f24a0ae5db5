# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""A host's small JSON state files (the last sizes reading, the last backup): private to root, replaced at once."""
from __future__ import annotations

import json
import os
import tempfile


def read(path: str) -> dict:
    """The object kept at `path`; {} when there is none, or it is unreadable (a state file is never worth a failure)."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write(path: str, data: dict) -> None:
    """Keep `data` at `path` (0600; written aside and renamed, so a reader never sees half of it)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path) or ".")  # 0600
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
