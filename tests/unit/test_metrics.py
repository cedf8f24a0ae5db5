import datetime

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils import metrics

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.UTC)


def e(type_, service, run="r1", **kw):
    return dict(type=type_, service=service, run_id=run, host="h", **kw)


EVENTS = [
    e(ev.DEPLOY_START, "a"), e(ev.HEALTH_RETRY, "a"), e(ev.HEALTH_SUCCESS, "a", attempt=2),
    e(ev.DEPLOY_START, "b"), e(ev.RESTART_LOOP, "b", attempt=1), e(ev.RESTART_LOOP, "b"),
    e(ev.DEPLOY_START, "c"), e(ev.HEALTH_TIMEOUT, "c", attempt=9),
    e(ev.RECOVERY_START, "b", run="r2"), e(ev.RECOVERY_SUCCESS, "b", run="r2"),
    e(ev.RECOVERY_START, "c", run="r2"), e(ev.RECOVERY_NEEDED, "c", run="r2"),
    e(ev.DEPLOY_START, "a", run="r3"), e(ev.HEALTH_SUCCESS, "a", run="r3", attempt=1),
]


def test_rates_from_events():
    m = metrics.compute(EVENTS, ["[2026-11-26 12:00:00] [INFO] [a] ok", "garbage", ""])
    assert m["deployment_success_rate"] == {"value": 0.5, "good": 2, "total": 4, "target": 0.95, "meets_target": False}
    assert m["health_check_success_rate"]["value"] == 0.5  # a, a healthy; b crash loop in a wait; c timeout
    assert m["error_recovery_rate"]["value"] == 0.5
    assert m["log_consistency"]["value"] == 0.5
    assert "container_uptime" not in m


def test_uptime_over_a_window():
    containers = [
        {"name": "steady", "status": "running", "created": "2026-11-20T00:00:00Z", "started_at": "2026-11-20T00:00:01Z"},
        {"name": "restarted", "status": "running", "created": "2026-11-20T00:00:00Z", "started_at": "2026-11-26T11:00:00Z",
         "restart_count": 2},
        {"name": "slow-start", "status": "running", "created": "2026-11-26T11:00:00Z", "started_at": "2026-11-26T11:00:05Z"},
        {"name": "new", "status": "running", "created": "2026-11-26T11:30:00Z", "started_at": "2026-11-26T11:30:00Z"},
        {"name": "down", "status": "exited", "created": "2026-11-26T10:00:00Z", "started_at": "2026-11-26T10:00:00Z"},
        {"name": "job", "status": "exited", "oneshot": True, "created": "2026-11-26T10:00:00Z"},
    ]
    u = metrics.container_uptime(containers, NOW, window_s=86400)
    assert u["containers"]["steady"] == 1.0 and u["containers"]["new"] == 1.0  # new: up all the time it existed
    assert round(u["containers"]["restarted"], 3) == round(3600 / 86400, 3)
    assert u["containers"]["down"] == 0.0 and "job" not in u["containers"]
    assert u["containers"]["slow-start"] == 1.0
    assert 0 < u["value"] < 1


def test_nothing_recorded_is_not_a_number():
    m = metrics.compute([], [])
    assert all(item["value"] is None and item["meets_target"] is None for item in m.values())
    assert "n/a" in metrics.summary_line(m)


def test_report_has_a_bar_per_service_and_escapes_text():
    from ansible_collections.aiplatform.stack.plugins.plugin_utils import report

    evs = [dict(ev.make_event(t, s, m), time=at) for t, s, m, at in [
        (ev.DEPLOY_START, "redis", "deploying", 100.0), (ev.HEALTH_SUCCESS, "redis", "healthy", 101.0),
        (ev.DEPLOY_START, "litellm", "deploying", 101.5), (ev.HEALTH_RETRY, "litellm", "<b>not ready</b>", 103.0),
        (ev.HEALTH_TIMEOUT, "litellm", "timed out", 110.0)]]
    page = report.render("r1", evs, metrics.compute(evs, []))
    assert page.count("class='bar") == 2
    assert "data-service='litellm'" in page and "class='bar failed'" in page
    assert "&lt;b&gt;not ready&lt;/b&gt;" in page and "<b>not ready" not in page
    assert "http" not in page.replace("http-equiv", "")  # nothing loaded from anywhere


def test_a_backup_and_a_refused_restore_end_their_lines_in_the_report():
    from ansible_collections.aiplatform.stack.plugins.plugin_utils import report

    evs = [dict(ev.make_event(t, s, m), time=at) for t, s, m, at in [
        (ev.BACKUP_START, "backup", "backing up", 100.0), (ev.BACKUP_PAUSE, "redis", "paused", 100.5),
        (ev.BACKUP_RESUME, "redis", "resumed", 101.0), (ev.BACKUP_SUCCESS, "backup", "archive written", 102.0),
        (ev.RESTORE_START, "restore", "checking", 103.0), (ev.RESTORE_REFUSED, "restore", "sha256 differs", 104.0)]]
    lines = report.timelines(evs)
    assert lines["backup"]["outcome"] == "backed up" and lines["restore"]["outcome"] == "failed"
    page = report.render("r1", evs, metrics.compute(evs, []))
    assert "<td>backup</td><td class='ok'>backed up</td>" in page
    assert "class='bar failed' data-service='restore'" in page and "sha256 differs" in page
