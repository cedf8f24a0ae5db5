# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Model pulls through Ollama's API, in bounded steps so that the controller can show progress between them.

One step streams `POST /api/pull` for at most `budget` seconds and reports where the pull stands. Ollama keeps the
layers it has and resumes them on the next pull, so a step that ends early loses nothing.
"""
from __future__ import annotations

import json
import time


def present(tags: dict) -> set[str]:
    """Model names in an `/api/tags` answer, with and without the implied `:latest`."""
    names = set()
    for model in tags.get("models") or []:
        name = model.get("name") or model.get("model") or ""
        names.add(name)
        if name.endswith(":latest"):
            names.add(name[: -len(":latest")])
    return names


def missing(wanted: list[str], tags: dict) -> list[str]:
    have = present(tags)
    return [m for m in wanted if m not in have and (":" in m or m + ":latest" not in have)]


def read_progress(lines, budget: float, clock=time.monotonic) -> dict:
    """Consume a pull's NDJSON stream for at most `budget` seconds.

    Returns {state: done | failed | pulling, status, completed, total, error}.
    """
    end = clock() + budget
    last: dict = {}
    for raw in lines:
        raw = raw.strip()
        if not raw:
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        if doc.get("error"):
            return {"state": "failed", "error": str(doc["error"]), "status": last.get("status", "")}
        if doc.get("status") == "success":
            return {"state": "done", "status": "success"}
        if doc.get("total"):
            last = doc
        else:
            last = dict(last, status=doc.get("status", ""))
        if clock() >= end:
            break
    return {"state": "pulling", "status": last.get("status", "started"), "completed": int(last.get("completed") or 0),
            "total": int(last.get("total") or 0)}


def percent(progress: dict) -> str:
    total = progress.get("total") or 0
    return f"{100 * (progress.get('completed') or 0) // total}%" if total else progress.get("status", "")
