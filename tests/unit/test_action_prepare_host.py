"""prepare_host's action run on a fake host: the run lock it asks for, how it waits for a held one, and how the
secrets it gets back leave the result."""
import os
import socket
import subprocess
import sys
import types

from ansible_collections.aiplatform.stack.plugins.action import prepare_host

from .action_harness import events_of, run_action

MODULE = "aiplatform.stack.prepare_host"
ARGS = {"lock_dir": "/srv/aiplatform", "lock_ttl": 3600, "ports": [8080], "secrets_dir": "/srv/aiplatform/secrets"}
READY = {"changed": True, "values": {"web": {"token": "s3cret"}}, "checks": {"disk": "ok"},
         "events": [{"type": "PRECHECK_FAIL", "service": "host", "message": "disk low", "level": "ERROR"}]}
OTHER = {"run": "ctl2-77", "controller": "ctl2.example", "pid": 77, "since": 0}


def prepare(monkeypatch, answers, args=None):
    """Run the action; the module answers `answers` in order. The clock moves only when the action sleeps."""
    clock = types.SimpleNamespace(now=0.0, slept=[])

    def sleep(seconds):
        clock.slept.append(seconds)
        clock.now += seconds
    monkeypatch.setattr(prepare_host, "time", types.SimpleNamespace(monotonic=lambda: clock.now, time=lambda: 100.0,
                                                                    sleep=sleep))
    monkeypatch.setenv(prepare_host.RUN_ENV, "run-42")
    result, host = run_action(prepare_host, dict(args or ARGS), lambda name, module_args: answers.pop(0))
    return result, host, clock


def test_a_free_host_is_prepared_in_one_call_that_names_this_run_and_its_process(monkeypatch):
    result, host, clock = prepare(monkeypatch, [dict(READY)], args=dict(ARGS, lock_wait=30))
    (args,) = host.sent(MODULE)
    assert args["run"] == "run-42" and args["holder"] == {"controller": socket.gethostname(), "pid": os.getppid()}
    assert "lock_wait" not in args and args["ports"] == [8080] and args["lock_dir"] == "/srv/aiplatform"
    assert clock.slept == [] and result["lock_run"] == "run-42" and result["checks"] == {"disk": "ok"}


def test_the_secrets_are_handed_over_as_secret_values_in_a_result_that_is_never_logged(monkeypatch):
    result, host, clock = prepare(monkeypatch, [dict(READY)])
    assert result["secret_values"] == {"web": {"token": "s3cret"}} and result["_ansible_no_log"] is True


def test_the_secrets_are_in_the_result_only_once(monkeypatch):
    result, host, clock = prepare(monkeypatch, [dict(READY)])
    assert "values" not in result


def test_the_hosts_events_are_recorded_with_this_host(monkeypatch):
    result, host, clock = prepare(monkeypatch, [dict(READY)])
    (event,) = events_of(result, "PRECHECK_FAIL", "host")
    assert event["message"] == "disk low" and event["host"] == "localhost"


def test_a_failure_is_returned_with_its_events_and_without_the_lock_run(monkeypatch):
    failure = {"failed": True, "msg": "port 8080 is in use", "category": "port", "events": READY["events"]}
    result, host, clock = prepare(monkeypatch, [failure])
    assert result["failed"] and result["msg"] == "port 8080 is in use" and result["category"] == "port"
    assert "lock_run" not in result and "secret_values" not in result and events_of(result, "PRECHECK_FAIL")


def test_a_held_lock_is_waited_for_with_a_live_line_and_a_growing_pause(monkeypatch):
    held = {"held_by": OTHER}
    result, host, clock = prepare(monkeypatch, [held, held, held, dict(READY)], args=dict(ARGS, lock_wait=60))
    assert len(host.calls) == 4 and clock.slept == [1.0, 2.0, 4.0]
    waits = events_of(result, "RUN_LOCK_WAIT", "host")
    assert len(waits) == 3 and "run ctl2-77 from ctl2.example" in waits[0]["message"] and "60 s left" in waits[0]["message"]
    assert not result.get("failed") and result["lock_run"] == "run-42"


def test_a_lock_still_held_at_the_deadline_fails_naming_the_holder_and_the_lock_file(monkeypatch):
    result, host, clock = prepare(monkeypatch, [{"held_by": OTHER}] * 20, args=dict(ARGS, lock_wait=20))
    assert clock.slept == [1.0, 2.0, 4.0, 8.0, 10.0]  # the pause doubles up to its cap of 10 s
    assert result["failed"] and result["category"] == "config" and result["held_by"] == OTHER
    assert "run ctl2-77 from ctl2.example" in result["msg"] and "/srv/aiplatform/.aiplatform-run.lock" in result["msg"]


def test_a_lock_whose_holder_ended_on_this_controller_is_taken_over_without_waiting(monkeypatch):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    gone = {"run": "old-run", "controller": socket.gethostname(), "pid": int(ended.stdout)}
    result, host, clock = prepare(monkeypatch, [{"held_by": gone}, dict(READY)])
    assert clock.slept == []
    first, second = host.sent(MODULE)
    assert "take_over" not in first and second["take_over"] == "old-run"
    (taken,) = events_of(result, "RUN_LOCK_WAIT")
    assert "taking the lock over" in taken["message"]
