# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""A static HTML report of one run: services with state, the metrics, and a timeline per service.

Self-contained (inline CSS, no script, no CDN) so it opens offline and archives with the job.
"""
from __future__ import annotations

import html
import time

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

_MARKS = {ev.HEALTH_RETRY: "retry", ev.DEPLOY_FAIL: "fail", ev.HEALTH_TIMEOUT: "fail", ev.RESTART_LOOP: "fail",
          ev.CONFIG_INVALID: "fail", ev.PORT_CONFLICT: "fail", ev.CONNECTIVITY_FAIL: "fail", ev.RECOVERY_NEEDED: "fail",
          ev.RECOVERY_START: "recovery", ev.RECOVERY_SUCCESS: "recovered", ev.DEPLOY_SKIPPED: "skip",
          ev.BACKUP_FAIL: "fail", ev.RESTORE_FAIL: "fail", ev.RESTORE_REFUSED: "fail"}
# the good end of a service's line, by the event that ends it (backups and restores too)
_END_OK = {ev.HEALTH_SUCCESS: "healthy", ev.RECOVERY_SUCCESS: "recovered", ev.BACKUP_SUCCESS: "backed up",
           ev.RESTORE_SUCCESS: "restored"}
_END_BAD = {ev.HEALTH_TIMEOUT, ev.RESTART_LOOP, ev.DEPLOY_FAIL, ev.RECOVERY_NEEDED, ev.CONNECTIVITY_FAIL,
            ev.DEPLOY_SKIPPED, ev.PORT_CONFLICT, ev.CONFIG_INVALID, ev.BACKUP_FAIL, ev.RESTORE_FAIL,
            ev.RESTORE_REFUSED}

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #dde;text-align:left}
.ok{color:#137333}.bad{color:#b3261e}.na{color:#777}
.timeline{position:relative;border-left:1px solid #aab;margin-left:140px}
.row{position:relative;height:26px}
.label{position:absolute;left:-140px;width:130px;text-align:right;font-size:13px;top:4px}
.bar{position:absolute;top:6px;height:14px;border-radius:3px;background:#4a7bd0;min-width:2px}
.bar.failed{background:#d05050}.bar.recovered{background:#3a9a5a}
.mark{position:absolute;top:2px;width:3px;height:22px}
.mark.retry{background:#e0a030}.mark.fail{background:#b3261e}.mark.recovery{background:#7b3fb0}
.mark.recovered{background:#137333}.mark.skip{background:#888}
.axis{font-size:12px;color:#555;margin-left:140px}
"""


def timelines(events: list[dict]) -> dict[str, dict]:
    """Per service: start, end, outcome and marks (time, kind, message), from one run's events."""
    out: dict[str, dict] = {}
    for e in sorted(events, key=lambda x: x["time"]):
        if e["service"] == "run":
            continue
        t = out.setdefault(e["service"], {"start": e["time"], "end": e["time"], "outcome": "running", "marks": []})
        t["end"] = max(t["end"], e["time"])
        if e["type"] in _MARKS:
            t["marks"].append({"time": e["time"], "kind": _MARKS[e["type"]], "message": e["message"]})
        if e["type"] in _END_OK:
            t["outcome"] = _END_OK[e["type"]]
        elif e["type"] in _END_BAD:
            t["outcome"] = "failed"
    return out


def _pct(value: float, start: float, span: float) -> float:
    return round(100.0 * (value - start) / span, 2) if span > 0 else 0.0


def render(run_id: str, events: list[dict], metrics: dict, title: str = "aiplatform.stack run") -> str:
    lines = timelines(events)
    t0 = min((t["start"] for t in lines.values()), default=time.time())
    t1 = max((t["end"] for t in lines.values()), default=t0)
    span = max(t1 - t0, 1.0)
    esc = html.escape
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)} {esc(run_id)}</title>",
           f"<style>{CSS}</style></head><body>",
           f"<h1>{esc(title)} <code>{esc(run_id)}</code></h1>",
           f"<p>{esc(time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t0)))} - {span:.1f} s, {len(events)} events</p>",
           "<h2>Services</h2><table id='services'><tr><th>service</th><th>outcome</th><th>first event</th>"
           "<th>time to outcome</th><th>retries</th></tr>"]
    for name, t in sorted(lines.items(), key=lambda kv: kv[1]["start"]):
        cls = "ok" if t["outcome"] in _END_OK.values() else "bad" if t["outcome"] == "failed" else "na"
        retries = sum(1 for m in t["marks"] if m["kind"] == "retry")
        out.append(f"<tr><td>{esc(name)}</td><td class='{cls}'>{esc(t['outcome'])}</td>"
                   f"<td>+{t['start'] - t0:.1f} s</td><td>{t['end'] - t['start']:.1f} s</td><td>{retries}</td></tr>")
    out.append("</table><h2>Metrics</h2><table id='metrics'><tr><th>metric</th><th>value</th><th>target</th></tr>")
    for name, item in metrics.items():
        value = item.get("value")
        shown = "n/a" if value is None else f"{value * 100:.1f}%"
        cls = "na" if item.get("meets_target") is None else "ok" if item["meets_target"] else "bad"
        detail = f" ({item['good']}/{item['total']})" if "good" in item else ""
        out.append(f"<tr><td>{esc(name.replace('_', ' '))}</td><td class='{cls}'>{shown}{detail}</td>"
                   f"<td>{item['target'] * 100:.0f}%</td></tr>")
    out.append("</table><h2>Timeline</h2><div class='timeline' id='timeline'>")
    for name, t in sorted(lines.items(), key=lambda kv: kv[1]["start"]):
        left, width = _pct(t["start"], t0, span), max(_pct(t["end"], t0, span) - _pct(t["start"], t0, span), 0.3)
        state = {"failed": " failed", "recovered": " recovered"}.get(t["outcome"], "")
        out.append(f"<div class='row'><span class='label'>{esc(name)}</span>"
                   f"<div class='bar{state}' data-service='{esc(name)}' style='left:{left}%;width:{width}%' "
                   f"title='{esc(name)}: {t['end'] - t['start']:.1f} s, {esc(t['outcome'])}'></div>")
        for m in t["marks"]:
            out.append(f"<div class='mark {m['kind']}' style='left:{_pct(m['time'], t0, span)}%' "
                       f"title='{esc(m['message'])}'></div>")
        out.append("</div>")
    out.append(f"</div><div class='axis'>0 s &mdash; {span:.1f} s</div></body></html>")
    return "\n".join(out)
