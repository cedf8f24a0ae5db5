# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""The platform's metrics, computed from recorded events and container facts - never typed in.

- deployment success rate: of the services a run started deploying (DEPLOY_START), the share that became healthy
  in that run (HEALTH_SUCCESS).
- health-check success rate: of the health waits that ended (HEALTH_SUCCESS, HEALTH_TIMEOUT, RESTART_LOOP in a
  wait), the share that ended healthy.
- error-recovery rate: of the recovery episodes that ended (RECOVERY_SUCCESS, RECOVERY_NEEDED), the share recovered.
- container uptime: over a window, the running time since each container's last start divided by the time it has
  existed in the window (from its first start; after a restart, from its creation: time before the last start
  counts as down); a stopped container is down.
- log consistency: the share of log file lines in the standard format.
"""
from __future__ import annotations

import datetime

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

TARGETS = {"deployment_success_rate": 0.95, "health_check_success_rate": 0.90, "error_recovery_rate": 0.80,
           "container_uptime": 0.99, "log_consistency": 1.0}


def _rate(good: int, total: int) -> float | None:
    return round(good / total, 4) if total else None


def deployment_success(events: list[dict]) -> dict:
    started, healthy = set(), set()
    for e in events:
        key = (e.get("run_id"), e.get("host"), e["service"])
        if e["type"] == ev.DEPLOY_START:
            started.add(key)
        elif e["type"] == ev.HEALTH_SUCCESS:
            healthy.add(key)
    good = len(started & healthy)
    return {"value": _rate(good, len(started)), "good": good, "total": len(started)}


def health_check_success(events: list[dict]) -> dict:
    ends = [e for e in events if e["type"] in (ev.HEALTH_SUCCESS, ev.HEALTH_TIMEOUT)
            or (e["type"] == ev.RESTART_LOOP and e.get("attempt") is not None)]
    good = sum(1 for e in ends if e["type"] == ev.HEALTH_SUCCESS)
    return {"value": _rate(good, len(ends)), "good": good, "total": len(ends)}


def error_recovery(events: list[dict]) -> dict:
    ends = [e for e in events if e["type"] in (ev.RECOVERY_SUCCESS, ev.RECOVERY_NEEDED)]
    good = sum(1 for e in ends if e["type"] == ev.RECOVERY_SUCCESS)
    return {"value": _rate(good, len(ends)), "good": good, "total": len(ends)}


def _parse(stamp: str | None) -> datetime.datetime | None:
    if not stamp or stamp.startswith("0001-"):
        return None
    try:
        return datetime.datetime.strptime(stamp.rstrip("Z").split(".")[0], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.UTC)
    except ValueError:
        return None


def container_uptime(containers: list[dict], now: datetime.datetime | None = None, window_s: float = 86400) -> dict:
    """Containers: {name, status, started_at, created, oneshot}. One-shot jobs are left out."""
    now = now or datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(seconds=window_s)
    up_total = exist_total = 0.0
    per = {}
    for c in containers:
        if c.get("oneshot"):
            continue
        started = _parse(c.get("started_at"))
        # Never restarted: it has been up since its one start (create-to-start is not downtime).
        created = started if not c.get("restart_count") and started else _parse(c.get("created")) or started
        if created is None:
            continue
        since = max(created, start)
        exist = (now - since).total_seconds()
        up = (now - max(started, since)).total_seconds() if c.get("status") == "running" and started else 0.0
        up_total += up
        exist_total += exist
        per[c["name"]] = _rate(int(up), int(exist)) if exist >= 1 else 1.0
    return {"value": _rate(int(up_total), int(exist_total)) if exist_total >= 1 else None,
            "containers": per, "window_s": window_s}


def log_consistency(lines: list[str]) -> dict:
    lines = [line for line in lines if line.strip()]
    good = sum(1 for line in lines if ev.LINE_RE.match(line))
    return {"value": _rate(good, len(lines)), "good": good, "total": len(lines)}


COUNTED = ("deployment_success_rate", "health_check_success_rate", "error_recovery_rate", "log_consistency")


def counts(events: list[dict], log_lines: list[str]) -> dict:
    """{metric: {good, total}} of some events and log lines (one run's, or the history's once)."""
    found = {"deployment_success_rate": deployment_success(events),
             "health_check_success_rate": health_check_success(events),
             "error_recovery_rate": error_recovery(events), "log_consistency": log_consistency(log_lines)}
    return {name: {"good": item["good"], "total": item["total"]} for name, item in found.items()}


def add_counts(totals: object, more: dict) -> dict:
    """Running totals plus one run's counts; damaged totals count as none (the caller warns)."""
    out = {}
    for name in COUNTED:
        old = totals.get(name) if isinstance(totals, dict) else None
        good = old.get("good") if isinstance(old, dict) else 0
        total = old.get("total") if isinstance(old, dict) else 0
        if not (isinstance(good, int) and isinstance(total, int) and 0 <= good <= total):
            good = total = 0
        out[name] = {"good": good + more[name]["good"], "total": total + more[name]["total"]}
    return out


def from_totals(totals: dict, containers: list[dict] | None = None, now: datetime.datetime | None = None,
                window_s: float = 86400) -> dict:
    """The metrics from running totals (so a run's cost does not grow with the history) and this run's containers."""
    out = {name: {"value": _rate(totals[name]["good"], totals[name]["total"]), **totals[name]} for name in COUNTED}
    return _finish(out, containers, now, window_s)


def compute(events: list[dict], log_lines: list[str], containers: list[dict] | None = None,
            now: datetime.datetime | None = None, window_s: float = 86400) -> dict:
    out = {
        "deployment_success_rate": deployment_success(events),
        "health_check_success_rate": health_check_success(events),
        "error_recovery_rate": error_recovery(events),
        "log_consistency": log_consistency(log_lines),
    }
    return _finish(out, containers, now, window_s)


def _finish(out: dict, containers: list[dict] | None, now: datetime.datetime | None, window_s: float) -> dict:
    if containers is not None:
        out["container_uptime"] = container_uptime(containers, now, window_s)
    for name, item in out.items():
        value = item["value"]
        item["target"] = TARGETS[name]
        item["meets_target"] = None if value is None else value >= TARGETS[name]
    return out


def summary_line(metrics: dict) -> str:
    parts = []
    for name, item in metrics.items():
        value = item["value"]
        shown = "n/a" if value is None else f"{value * 100:.1f}%"
        mark = "" if item["meets_target"] is None else (" ok" if item["meets_target"] else " BELOW TARGET")
        parts.append(f"{name.replace('_', ' ')} {shown}{mark}")
    return "; ".join(parts)
