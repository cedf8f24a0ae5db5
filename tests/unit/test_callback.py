"""Every hook of the platform_log callback, with plain stand-in objects for Ansible's results."""
import json
import signal

import pytest

from ansible_collections.aiplatform.stack.plugins.callback.platform_log import CallbackModule
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev


class Display:
    verbosity = 0

    def __init__(self):
        self.lines = []

    def display(self, msg, *a, **k):
        self.lines.append(msg)


class Task:
    def __init__(self, action):
        self.action = action


class Result:
    def __init__(self, action, data):
        self.task = Task(action)
        self.result = data


@pytest.fixture
def cb(tmp_path):
    c = CallbackModule(display=Display())
    c._plugin_options = {"log_dir": str(tmp_path), "log_file": "a.log", "events_file": "e.jsonl",
                         "console": True, "run_id": "r1", "report": True, "keep_reports": 3, "max_events_mb": 20}
    c._run_id = "r1"
    yield c
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)


def read(tmp_path):
    lines = (tmp_path / "a.log").read_text().splitlines()
    events = [json.loads(x) for x in (tmp_path / "e.jsonl").read_text().splitlines()]
    return lines, events


def test_live_event_then_same_event_in_the_result_is_written_once(cb, tmp_path):
    e = ev.make_event(ev.HEALTH_RETRY, "litellm", "not ready; attempt 1", attempt=1)
    cb.v2_aiplatform_event(Result("aiplatform.stack.deploy_platform", {"aiplatform_event": e}))
    cb.v2_runner_on_ok(Result("aiplatform.stack.deploy_platform", {"events": [e]}))
    lines, events = read(tmp_path)
    assert len(lines) == 1 and cb._display.lines == lines
    assert ev.LINE_RE.match(lines[0]) and "[WARN] [litellm]" in lines[0]
    assert events[0]["run_id"] == "r1" and events[0]["attempt"] == 1


def test_loop_items_and_failures_are_recorded(cb, tmp_path):
    ok = ev.make_event(ev.DEPLOY_SUCCESS, "redis", "started up")
    bad = ev.make_event(ev.DEPLOY_FAIL, "pg", "[port] Bind for 127.0.0.1:5432 failed")
    cb.v2_runner_item_on_ok(Result("aiplatform.stack.compose_project", {"events": [ok]}))
    cb.v2_runner_item_on_failed(Result("aiplatform.stack.compose_project", {"events": [bad]}))
    cb.v2_runner_on_failed(Result("aiplatform.stack.compose_project", {"results": [{"events": [ok]}, {"events": [bad]}]}))
    lines, dummy = read(tmp_path)
    assert len(lines) == 2 and "[ERROR] [pg]" in lines[1]


def test_results_of_other_collections_are_ignored(cb, tmp_path):
    cb.v2_runner_on_ok(Result("ansible.builtin.debug", {"events": [ev.make_event(ev.DEPLOY_START, "x", "y")]}))
    assert not (tmp_path / "a.log").exists()


def test_secrets_never_reach_either_output(cb, tmp_path):
    e = ev.make_event(ev.DEPLOY_FAIL, "litellm", "DATABASE_URL=postgresql://litellm:pw-0123456789@pg/litellm bad")
    cb.v2_aiplatform_event(Result("aiplatform.stack.compose_project", {"aiplatform_event": e}))
    text = (tmp_path / "a.log").read_text() + (tmp_path / "e.jsonl").read_text() + "\n".join(cb._display.lines)
    assert "pw-0123456789" not in text


def test_start_and_stats_close_the_run(cb, tmp_path):
    class Playbook:
        _file_name = "/x/playbooks/site.yml"

    class Stats:
        failures = {"h": 1}
        dark = {}

    cb.v2_playbook_on_start(Playbook())
    cb.record(ev.make_event(ev.DEPLOY_START, "redis", "deploying", host="h"))
    cb.record(ev.make_event(ev.HEALTH_SUCCESS, "redis", "healthy", host="h", attempt=1, containers=[
        {"name": "aiplatform-redis", "status": "running", "started_at": "2026-11-26T00:00:00Z", "restart_count": 0}]))
    cb.v2_playbook_on_stats(Stats())
    cb.v2_playbook_on_stats(Stats())  # the run is closed once
    lines, events = read(tmp_path)
    assert [e["type"] for e in events] == [ev.RUN_START, ev.DEPLOY_START, ev.HEALTH_SUCCESS, ev.METRICS, ev.RUN_END]
    assert events[-1]["status"] == "failed" and "site.yml" in lines[0]
    assert "deployment success rate 100.0% ok" in lines[3]
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert metrics["deployment_success_rate"]["value"] == 1.0 and metrics["container_uptime"]["value"] == 1.0
    state = json.loads((tmp_path / "state.json").read_text())["services"]["redis@h"]
    assert state["state"] == "running"
    assert "data-service='redis'" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "report-r1.html").exists()


def test_interrupt_leaves_a_final_status(cb, tmp_path):
    cb.record(ev.make_event(ev.DEPLOY_START, "redis", "deploying"))
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGTERM, None)
    dummy, events = read(tmp_path)
    assert events[-1]["type"] == ev.RUN_END and events[-1]["status"] == "interrupted"


class Host:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class NamedTask(Task):
    def __init__(self, action, name):
        super().__init__(action)
        self.name = name

    def get_name(self):
        return self.name


class HostResult:
    def __init__(self, action, name, host, data):
        self.task = NamedTask(action, name)
        self.result = data
        self._host = Host(host)


def test_a_step_that_fails_without_an_event_of_its_own_is_an_error_event_and_run_end_names_it(cb, tmp_path):
    task = NamedTask("aiplatform.stack.prepare_host", "Take the host's run lock")
    cb.v2_playbook_on_task_start(task, False)
    cb.v2_runner_on_failed(HostResult("aiplatform.stack.prepare_host", task.name, "model1",
                                      {"msg": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"}))
    cb.v2_runner_on_unreachable(HostResult("ansible.builtin.ping", task.name, "app1", {"msg": "ssh: connect refused"}))
    cb.v2_playbook_on_stats(type("Stats", (), {"failures": {"model1": 1}, "dark": {"app1": 1}})())
    lines, events = read(tmp_path)
    fails = [e for e in events if e["type"] == ev.STEP_FAIL]
    assert [(e["host"], e["category"]) for e in fails] == [("model1", "engine"), ("app1", "unreachable")]
    assert all(e["level"] == "ERROR" and e["step"] == task.name for e in fails)
    assert events[-1]["type"] == ev.RUN_END and "at step 'Take the host's run lock'" in events[-1]["message"]


def test_a_step_whose_events_said_why_gets_no_second_error(cb, tmp_path):
    task = NamedTask("aiplatform.stack.deploy_platform", "Deploy")
    cb.v2_playbook_on_task_start(task, False)
    e = dict(ev.make_event(ev.HEALTH_TIMEOUT, "n8n", "not healthy within 300 s", category="timeout"), host="app1")
    cb.v2_runner_on_failed(HostResult("aiplatform.stack.deploy_platform", "Deploy", "app1", {"events": [e], "msg": "x"}))
    verdict = NamedTask("ansible.builtin.fail", "Fail the host")
    cb.v2_playbook_on_task_start(verdict, False)
    cb.v2_runner_on_failed(HostResult("ansible.builtin.fail", "Fail the host", "app1", {"msg": "not healthy: n8n"}))
    cb.v2_playbook_on_stats(type("Stats", (), {"failures": {"app1": 1}, "dark": {}})())
    lines, events = read(tmp_path)
    assert not [x for x in events if x["type"] == ev.STEP_FAIL]
    # RUN_END names where it went wrong (the deploy), not the verdict task that failed the host because of it
    assert events[-1]["type"] == ev.RUN_END and "at step 'Deploy'" in events[-1]["message"]


def test_the_live_channel_survives_the_dispatchers_method_scan(cb):
    # ansible-core 2.19's task queue manager rescans the methods after construction; the custom one must stay
    if not hasattr(CallbackModule.__mro__[1], "_init_callback_methods"):
        pytest.skip("this ansible-core looks methods up by name")
    cb._init_callback_methods()
    assert "v2_aiplatform_event" in cb._implemented_callback_methods
    assert "v2_runner_on_failed" in cb._implemented_callback_methods
