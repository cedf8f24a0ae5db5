# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Retry schedules: exponential backoff with full jitter, a cap and an overall deadline."""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """`delay(n)` is drawn uniformly from [0, min(cap, base * factor**n)] (full jitter), never below `floor`.

    initial: wait before the first attempt; deadline: overall seconds from the start of the wait.
    """

    initial: float = 0.0
    base: float = 0.5
    factor: float = 2.0
    cap: float = 5.0
    deadline: float = 120.0
    floor: float = 0.1

    def ceiling(self, attempt: int) -> float:
        """Upper bound of the delay after failed attempt number `attempt` (1-based)."""
        return min(self.cap, self.base * self.factor ** max(0, attempt - 1))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        upper = self.ceiling(attempt)
        return max(self.floor, (rng or random).uniform(0.0, upper))

    @classmethod
    def from_dict(cls, data: dict | None) -> Backoff:
        data = dict(data or {})
        fields = {k: float(data[k]) for k in ("initial", "base", "factor", "cap", "deadline", "floor") if data.get(k) is not None}
        b = cls(**fields)
        if b.factor < 1 or b.base <= 0 or b.cap < b.floor or b.deadline <= 0 or b.initial < 0:
            raise ValueError(
                "backoff needs factor >= 1, base > 0, cap >= floor, deadline > 0, initial >= 0; got %r" % data
            )
        return b


# Defaults by service type (seconds); a service's own backoff settings override them field by field.
TYPE_DEFAULTS: dict[str, dict[str, float]] = {
    "infrastructure": {"initial": 0.5, "base": 0.25, "factor": 2, "cap": 2, "deadline": 90},
    "proxy": {"initial": 2, "base": 0.5, "factor": 2, "cap": 5, "deadline": 240},
    "llm": {"initial": 2, "base": 1, "factor": 2, "cap": 10, "deadline": 300},
    "application": {"initial": 2, "base": 0.5, "factor": 2, "cap": 5, "deadline": 300},
    "workflow": {"initial": 1, "base": 0.5, "factor": 2, "cap": 5, "deadline": 180},
}


def for_service(service: dict) -> Backoff:
    """The backoff of a service description: its type's defaults, overridden by its own `backoff` fields."""
    merged = dict(TYPE_DEFAULTS.get(service.get("type") or "", {}))
    merged.update({k: v for k, v in (service.get("backoff") or {}).items() if v is not None})
    return Backoff.from_dict(merged)


def linear_delay(base: float, attempt: int) -> float:
    """The schedule the bash scripts used: delay = base * (attempt - 1). Kept for the benchmark baseline."""
    return base * max(0, attempt - 1)
