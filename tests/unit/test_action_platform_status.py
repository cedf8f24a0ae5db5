"""platform_status' action run on a fake host: one probe round, a row per service, crash loops stopped, drift,
certificates and orphans said."""
from ansible_collections.aiplatform.stack.plugins.action import platform_status

from .action_harness import events_of, run_action

PROBE, COMPOSE = "aiplatform.stack.service_probe", "aiplatform.stack.compose_project"
CERTS, ORPHANS = "aiplatform.stack.certificate_expiry", "aiplatform.stack.platform_orphans"
WEB = {"name": "web", "project": "aiplatform-web", "probe": {"type": "http", "port": 8080},
       "ports": [{"name": "main", "container": 8080, "published": 3000}]}
DB = {"name": "db", "project": "aiplatform-db", "probe": {"type": "tcp", "port": 5432}}
RUNNING = {"verdict": "ready", "detail": "HTTP 200",
           "containers": [{"name": "aiplatform-web", "status": "running", "restart_count": 0}]}
LOOPING = {"verdict": "waiting", "detail": "connection refused", "logs": ["panic: no config"],
           "containers": [{"name": "aiplatform-db", "status": "restarting", "restart_count": 7, "exit_code": 2}]}
TASK_VARS = {"inventory_hostname": "node1", "hostvars": {"node1": {"ansible_host": "10.0.0.5"}}}


def status(found, services=(WEB, DB), others=None, task_vars=None, **args):
    """Run the action: the probe round finds `found`; other modules answer from `others` ({module: result})."""
    def answer(name, module_args):
        return {"services": found} if name == PROBE else (others or {}).get(name, {"changed": True})
    args = {"services": list(services), "projects_dir": "/srv/aiplatform", **args}
    return run_action(platform_status, args, answer, TASK_VARS if task_vars is None else task_vars, check_mode=args.pop("check_mode", False))


def test_one_probe_round_asks_for_every_service_and_the_drift_against_what_was_deployed():
    result, host = status({"web": RUNNING, "db": dict(RUNNING, detail="tcp open")})
    (probe,) = host.sent(PROBE)
    assert [s["name"] for s in probe["services"]] == ["web", "db"] and probe["drift_dir"] == "/srv/aiplatform"
    assert [name for name, args in host.calls] == [PROBE]


def test_a_healthy_service_is_a_healthy_row_with_its_url_and_an_info_event():
    result, host = status({"web": RUNNING}, services=[WEB])
    (row,) = result["rows"]
    assert row["service"] == "web" and row["state"] == "healthy" and row["host"] == "node1"
    assert row["url"] == "http://10.0.0.5:3000" and row["containers"] == "1/1"
    (event,) = events_of(result, "SERVICE_STATUS", "web")
    assert event["level"] == "INFO" and event["message"] == "healthy: HTTP 200"
    assert result["changed"] is False and "web" in result["table"] and "healthy" in result["table"]


def test_a_crash_loop_is_stopped_with_its_volumes_kept_and_that_is_a_change():
    result, host = status({"web": RUNNING, "db": LOOPING})
    (stop,) = host.sent(COMPOSE)
    assert stop == {"project_src": "/srv/aiplatform/db", "project_name": "aiplatform-db", "state": "stopped"}
    (loop,) = events_of(result, "RESTART_LOOP", "db")
    assert "aiplatform-db restarting (exit code 2, 7 restarts)" in loop["message"] and "stopped to end the loop" in loop["message"]
    assert loop["category"] == "crash_loop" and loop["logs"] == ["panic: no config"]
    assert [r["state"] for r in result["rows"]] == ["healthy", "stopped (crash loop)"]
    assert result["changed"] is True
    assert events_of(result, "SERVICE_STATUS", "db")[0]["level"] == "WARN"


def test_a_crash_loop_is_only_reported_in_check_mode():
    result, host = status({"web": RUNNING, "db": LOOPING}, check_mode=True)
    assert host.sent(COMPOSE) == [] and result["changed"] is False
    assert result["rows"][1]["state"] == "crash_loop"
    assert "stopped" not in events_of(result, "RESTART_LOOP", "db")[0]["message"]


def test_a_crash_loop_is_only_reported_when_told_not_to_stop_loops():
    result, host = status({"web": RUNNING, "db": LOOPING}, stop_loops=False)
    assert host.sent(COMPOSE) == [] and result["rows"][1]["state"] == "crash_loop"


def test_a_stop_that_failed_leaves_the_crash_loop_state_and_no_change():
    result, host = status({"web": RUNNING, "db": LOOPING}, others={COMPOSE: {"failed": True, "msg": "engine gone"}})
    assert result["rows"][1]["state"] == "crash_loop" and result["changed"] is False


def test_a_running_service_changed_behind_the_platforms_back_is_a_drift_row_saying_what_differs():
    drift = [{"container": "aiplatform-web", "field": "image", "expected": "lab/web:2", "found": "lab/web:3"}]
    result, host = status({"web": dict(RUNNING, drift=drift)}, services=[WEB])
    (row,) = result["rows"]
    assert row["state"] == "DRIFT" and row["details"] == ["aiplatform-web: image lab/web:3 (want lab/web:2)"]
    assert row["drift"] == drift
    event = events_of(result, "SERVICE_STATUS", "web")[0]
    assert event["level"] == "WARN" and event["message"].startswith("DRIFT: aiplatform-web: image")


def test_a_missing_service_is_a_warning_row():
    result, host = status({}, services=[WEB])
    assert result["rows"][0]["state"] == "missing"
    assert events_of(result, "SERVICE_STATUS", "web")[0]["level"] == "WARN"


def test_no_services_probes_nothing():
    result, host = status({}, services=[])
    assert host.calls == [] and result["rows"] == []


def test_the_proxys_certificates_are_read_on_the_host_and_one_close_to_expiry_warns():
    proxy = dict(WEB, name="proxy", project="aiplatform-proxy",
                 certificates={"hostnames": ["chat.example.com"], "port": 8443, "warn_days": 14})
    certs = {"certificates": [{"level": "WARN", "message": "chat.example.com expires in 3 days"}]}
    result, host = status({"proxy": RUNNING}, services=[proxy], others={CERTS: certs})
    (asked,) = host.sent(CERTS)
    assert asked == {"address": "127.0.0.1", "port": 8443, "hostnames": ["chat.example.com"], "warn_days": 14}
    cert = [e for e in events_of(result, "SERVICE_STATUS", "proxy") if e["state"] == "certificate"]
    assert cert[0]["level"] == "WARN" and cert[0]["message"] == "chat.example.com expires in 3 days"
    assert result["rows"][0]["details"] == ["WARN chat.example.com expires in 3 days"]


def test_certificates_that_cannot_be_read_are_a_warning_not_a_failure():
    proxy = dict(WEB, name="proxy", certificates={"hostnames": ["chat.example.com"]})
    result, host = status({"proxy": RUNNING}, services=[proxy], others={CERTS: {"failed": True, "msg": "refused"}})
    assert not result.get("failed")
    assert any(e["message"] == "certificates not read: refused" and e["level"] == "WARN"
               for e in events_of(result, "SERVICE_STATUS", "proxy"))


def test_orphans_are_looked_for_among_what_is_not_enabled_and_get_a_row_each():
    orphans = {"orphans": {"services": [{"service": "old", "containers": [], "volumes": ["old_data"]}]},
               "events": [{"type": "ORPHANED", "service": "old", "message": "not enabled here", "level": "WARN"}]}
    result, host = status({"web": RUNNING}, services=[WEB], others={ORPHANS: orphans}, orphans=True,
                          networks=["aiplatform-link"])
    (asked,) = host.sent(ORPHANS)
    assert asked == {"base_dir": "/srv/aiplatform", "enabled": ["web"], "networks": ["aiplatform-link"]}
    assert [r["service"] for r in result["rows"]] == ["web", "old"] and result["rows"][1]["state"] == "ORPHANED"
    assert events_of(result, "ORPHANED", "old")[0]["host"] == "node1"


def test_a_security_warning_of_a_service_is_said_every_time():
    web = dict(WEB, status_warnings=["the applications hold its master key"])
    result, host = status({"web": RUNNING}, services=[web])
    assert events_of(result, "SECURITY_WARNING", "web")[0]["message"] == "the applications hold its master key"


def test_a_refused_login_in_the_log_tail_is_the_health_of_the_row_naming_the_credential():
    refused = dict(RUNNING, verdict="waiting", detail="HTTP 503: Redis not ready",
                   logs=["ERROR Redis ping failed: auth:AuthenticationError"])
    result, host = status({"web": refused, "db": dict(RUNNING, detail="tcp open")})
    (probe,) = host.sent(PROBE)
    assert all(s["with_logs"] for s in probe["services"])  # the module reads the log tail of what does not answer
    web = next(r for r in result["rows"] if r["service"] == "web")
    assert web["state"] == "unhealthy"
    assert web["health"].startswith("redis refuses web's login (ERROR Redis ping failed: auth:AuthenticationError)")
    warn, = events_of(result, "SERVICE_STATUS", "web")
    assert "check Redis user web's password" in warn["message"]
