# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""One run per host at a time: a lease file under the base directory, taken exclusively, given back at the end.

A module cannot hold a lock across the tasks of a run, so the lock is a file created with O_EXCL that names its
holder (run id, controller, since). A second run sees who holds it and waits (bounded) or fails clearly; a lease
older than its time to live is stale (a run killed without giving it back) and is taken over.
"""
from __future__ import annotations

import json
import os

LOCK_NAME = ".aiplatform-run.lock"


def _read(path: str) -> dict | None:
    try:
        with open(path) as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return None
    except ValueError:
        return {}  # half-written or damaged: judged by its age


def acquire(directory: str, holder: dict, now: float, ttl: float) -> dict | None:
    """Take the lock for `holder` {run, controller, ...}; None when taken, else the current holder (with `since`)."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    path = os.path.join(directory, LOCK_NAME)
    for dummy in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            current = _read(path)
            if current is None:
                continue  # given back meanwhile: try again
            if current.get("run") == holder.get("run"):
                return None  # ours already (a second task of the same run)
            since = current.get("since")
            since = float(since) if isinstance(since, (int, float)) else os.stat(path).st_mtime
            if now - since <= ttl:
                return dict(current, since=since)
            # stale: move it aside (one taker wins the rename), then take it
            try:
                os.replace(path, f"{path}.stale-{os.getpid()}")
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(dict(holder, since=now), fh)
        return None
    current = _read(path) or {}
    return dict(current, since=float(current.get("since") or now))


def release(directory: str, run: str) -> bool:
    """Give the lock back if `run` holds it; True when it was removed."""
    path = os.path.join(directory, LOCK_NAME)
    current = _read(path)
    if current is None or current.get("run") != run:
        return False
    os.unlink(path)
    return True


def describe(holder: dict, now: float) -> str:
    """Who holds the lock, for the live line of a waiting run."""
    return (f"run {holder.get('run', '?')} from {holder.get('controller', '?')} holds the lock since "
            f"{now - float(holder.get('since') or now):.0f} s")
