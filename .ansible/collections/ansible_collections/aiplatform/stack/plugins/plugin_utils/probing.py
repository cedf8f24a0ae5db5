# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""One probe round on a host through the service_probe module (shared by wait, status and recover)."""
from __future__ import annotations


def probe_round(action, task_vars: dict, specs: list[dict], baseline: dict | None = None, log_lines: int = 20,
                drift_dir: str | None = None) -> dict:
    """{name: {verdict, detail, containers, logs}} for the given service descriptions; with `drift_dir` (the base
    directory) also `drift`, the differences of their containers from what was deployed."""
    module_args = {
        "services": [{k: s[k] for k in ("name", "project", "target", "probe", "with_logs")
                     if s.get(k) is not None} for s in specs],
        "baseline": baseline or {},
        "log_lines": log_lines,
    }
    if drift_dir:
        module_args["drift_dir"] = drift_dir
    res = action._execute_module("aiplatform.stack.service_probe", module_args=module_args, task_vars=task_vars)
    if res.get("failed"):
        detail = res.get("msg", "probe failed")
        return {s["name"]: {"verdict": "waiting", "detail": detail} for s in specs}
    return res["services"]
