import datetime

from ansible_collections.aiplatform.stack.plugins.plugin_utils import recovery as rc

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.UTC)


def c(**kw):
    base = {"name": "x", "status": "running", "exit_code": 0, "restart_count": 0, "oneshot": False,
            "started_at": "2026-11-26T11:00:00.123456789Z"}
    base.update(kw)
    return base


def test_diagnose_states():
    assert rc.diagnose({"verdict": "ready", "detail": "HTTP 200", "containers": [c()]}, NOW) == ("healthy", "HTTP 200")
    assert rc.diagnose({"verdict": "waiting", "detail": "HTTP 503", "containers": [c()]}, NOW) == ("unhealthy", "HTTP 503")
    assert rc.diagnose({"containers": []}, NOW)[0] == "missing"
    assert rc.diagnose({"containers": [c(status="restarting", exit_code=3, restart_count=9)]}, NOW)[0] == "crash_loop"
    assert rc.diagnose({"containers": [c(status="exited", exit_code=1)]}, NOW)[0] == "crash_loop"
    assert rc.diagnose({"containers": [c(status="exited", exit_code=0)]}, NOW)[0] == "stopped"
    assert rc.diagnose({"verdict": "ready", "containers": [c(status="exited", oneshot=True), c(name="y")]}, NOW)[0] == "healthy"


def test_restart_count_climbing_within_the_window_is_a_loop():
    recent = c(restart_count=4, started_at="2026-11-26T11:59:30Z")
    old = c(restart_count=4, started_at="2026-11-26T09:00:00Z")
    assert rc.diagnose({"verdict": "ready", "containers": [recent]}, NOW)[0] == "crash_loop"
    assert rc.diagnose({"verdict": "ready", "containers": [old]}, NOW)[0] == "healthy"  # restarted long ago, stable since


def test_plans_are_bounded_and_by_category():
    assert [rc.next_action("crash_loop", n) for n in (1, 2, 3)] == ["recreate", "reconfigure", "manual"]
    assert [rc.next_action("unhealthy", n) for n in (1, 2, 3)] == ["restart", "recreate", "manual"]
    assert [rc.next_action("missing", n) for n in (1, 2)] == ["reconfigure", "manual"]
    assert rc.next_action("crash_loop", 1, category="port") == "manual"
    assert "free the port" in rc.advice("crash_loop", "port", [])
    assert "Last log line: boom" in rc.advice("crash_loop", None, ["boom"])


def test_attempts_back_off():
    assert [rc.attempt_delay(n) for n in (1, 2, 3, 4)] == [0.0, 2.0, 4.0, 8.0]
    assert rc.attempt_delay(10) == 30.0


def test_status_table():
    row = rc.status_row("litellm", "h1", {"detail": "HTTP 200", "containers": [c(restart_count=2)]}, "healthy",
                        "http://127.0.0.1:4000", NOW)
    assert row["uptime_s"] == 3600 and row["restarts"] == 2 and row["containers"] == "1/1"
    table = rc.format_table([row])
    assert table.splitlines()[0].split() == ["SERVICE", "HOST", "STATE", "UPTIME", "RESTARTS", "CONTAINERS", "URL", "HEALTH"]
    assert "litellm  h1" in table and "1h00m" in table


def test_status_counts_finished_init_jobs_apart_from_the_service_containers():
    entry = {"detail": "HTTP 200", "containers": [c(name="anythingllm"),
                                                  c(name="init", status="exited", exit_code=0, oneshot=True)]}
    row = rc.status_row("anythingllm", "h1", entry, "healthy", None, NOW)
    assert row["containers"] == "1/1 +1/1 jobs done"
