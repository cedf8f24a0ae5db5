# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Per-service state with history, kept from the events: running, failed, recovered, stopped (since when)."""
from __future__ import annotations

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

_STATE_OF = {
    ev.HEALTH_SUCCESS: "running", ev.RECOVERY_SUCCESS: "recovered",
    ev.DEPLOY_FAIL: "failed", ev.HEALTH_TIMEOUT: "failed", ev.RESTART_LOOP: "failed", ev.RECOVERY_NEEDED: "failed",
    ev.CONNECTIVITY_FAIL: "failed", ev.DEPLOY_SKIPPED: "failed", ev.SERVICE_REMOVED: "stopped", ev.ORPHANED: "orphaned",
}
HISTORY = 50


def apply(store: object, events: list[dict]) -> dict:
    """Update `store` ({"services": {key: {state, since, host, history: [...]}}}) with events, in time order.

    A damaged store (not an object, services not an object, an entry without its fields) is repaired, not fatal:
    what cannot be read starts afresh.
    """
    if not isinstance(store, dict):
        store = {}
    if not isinstance(store.get("services"), dict):
        store["services"] = {}
    services = store["services"]
    for key in [k for k, v in services.items() if not isinstance(v, dict) or not isinstance(v.get("history"), list)]:
        del services[key]
    for e in sorted(events, key=lambda x: x["time"]):
        state = _STATE_OF.get(e["type"])
        if state is None or e["service"] in ("run", "host", "plan"):
            continue
        if e["type"] == ev.SERVICE_STATUS:
            continue
        key = f"{e['service']}@{e.get('host', '')}"
        entry = services.setdefault(key, {"service": e["service"], "host": e.get("host", ""), "state": None,
                                          "since": None, "history": []})
        if entry["state"] == state:
            continue
        entry.update(state=state, since=e["time"])
        entry["history"].append({"state": state, "since": e["time"], "run_id": e.get("run_id"), "event": e["type"]})
        del entry["history"][:-HISTORY]
    return store
