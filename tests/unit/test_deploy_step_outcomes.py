"""The host side of a deploy step, part by part, with the engine, the network and compose replaced by fakes: what each
part of a request does and what it answers (the parts mutation testing, scripts/mutation.sh, found unguarded)."""
from __future__ import annotations

import io
import json

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import deploy_step, pg_login
from ansible_collections.aiplatform.stack.plugins.module_utils.compose import ComposeError
from ansible_collections.aiplatform.stack.plugins.module_utils.deploy_step import (
    engine_down,
    models_missing,
    probe_remote,
    run_step,
    wiring,
)

from .test_deploy_step import FakeTime, NoJitter  # the fake clock and the jitter at its top


# -- dependencies on other hosts ---------------------------------------------------------------------------------
def test_postgres_elsewhere_is_ready_only_when_every_consumer_logs_in_to_its_own_database(monkeypatch):
    tried = []

    def login(host, port, user, password, database):
        tried.append((host, port, user, password, database))
        if user == "n8n":
            raise pg_login.LoginError('password authentication failed for user "n8n"')
        return "ok"

    monkeypatch.setattr(pg_login, "login", login)
    dep = {"host": "10.0.0.5", "port": 5432, "logins": [
        {"user": "litellm", "password": "a", "database": "litellm"}, {"user": "n8n", "password": "b", "database": "n8n"}]}
    got = probe_remote(dep)
    assert got == {"verdict": "waiting", "detail": '10.0.0.5:5432 n8n as n8n: password authentication failed for '
                                                   'user "n8n"'}
    assert tried == [("10.0.0.5", 5432, "litellm", "a", "litellm"), ("10.0.0.5", 5432, "n8n", "b", "n8n")]

    tried.clear()
    monkeypatch.setattr(pg_login, "login", lambda *a: tried.append(a))
    got = probe_remote(dep)
    assert got == {"verdict": "ready",
                   "detail": "10.0.0.5:5432: litellm logged in to litellm, n8n logged in to n8n"}
    assert len(tried) == 2


def test_a_login_that_cannot_reach_postgres_elsewhere_is_waited_for(monkeypatch):
    def unreachable(*args):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(pg_login, "login", unreachable)
    got = probe_remote({"host": "db", "port": 5432, "logins": [{"user": "u", "password": "p", "database": "d"}]})
    assert got == {"verdict": "waiting", "detail": "db:5432 d as u: connection refused"}


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_postgres_and_redis_elsewhere_are_asked_in_their_own_protocol(monkeypatch, kind):
    asked = []
    monkeypatch.setattr(pg_login, "ping", lambda host, port: asked.append(("postgres", host, port)) or (True, "pg up"))
    monkeypatch.setattr(deploy_step, "redis_ping",
                        lambda host, port: asked.append(("redis", host, port)) or (False, "-LOADING"))
    got = probe_remote({"host": "h", "port": 7, "probe": {"type": kind}})
    assert asked == [(kind, "h", 7)]
    assert got == ({"verdict": "ready", "detail": "h:7 pg up"} if kind == "postgres"
                   else {"verdict": "waiting", "detail": "h:7 -LOADING"})


@pytest.mark.parametrize("error", [OSError("no route to host"), pg_login.LoginError("bad startup reply")])
def test_a_ping_that_fails_leaves_the_dependency_waiting_with_the_reason(monkeypatch, error):
    def fails(host, port):
        raise error

    monkeypatch.setattr(pg_login, "ping", fails)
    assert probe_remote({"host": "h", "port": 1, "probe": {"type": "postgres"}}) == {
        "verdict": "waiting", "detail": f"h:1 {error}"}


def test_an_http_dependency_elsewhere_is_probed_at_its_published_port_and_an_ipv6_host_is_bracketed(monkeypatch):
    asked = []
    monkeypatch.setattr(deploy_step, "http_probe", lambda probe, host: asked.append((probe, host)) or (True, "HTTP 200"))
    got = probe_remote({"host": "fd00::5", "port": 4000, "probe": {"type": "http", "path": "/health", "url": "x"}})
    assert got == {"verdict": "ready", "detail": "fd00::5:4000 HTTP 200"}
    assert asked == [({"type": "http", "path": "/health", "port": 4000, "url": None}, "[fd00::5]")]
    probe_remote({"host": "10.0.0.5", "port": 80, "probe": {"type": "http"}})
    assert asked[-1][1] == "10.0.0.5"


def test_any_other_dependency_elsewhere_is_a_tcp_connect(monkeypatch):
    asked = []
    monkeypatch.setattr(deploy_step, "tcp_probe", lambda host, port: asked.append((host, port)) or (False, "refused"))
    assert probe_remote({"host": "h", "port": 11434}) == {"verdict": "waiting", "detail": "h:11434 refused"}
    assert asked == [("h", 11434)]


# -- Ollama's models -----------------------------------------------------------------------------------------------
def test_the_models_ollama_lacks_are_asked_at_its_container_address(monkeypatch):
    urls = []

    def open_url(url, timeout, use_proxy):
        urls.append((url, timeout, use_proxy))
        return io.BytesIO(json.dumps({"models": [{"name": "llama3.2:latest"}]}).encode())

    monkeypatch.setattr(deploy_step, "open_url", open_url)
    probe = {"containers": [{"name": "x"}, {"name": "aiplatform-ollama", "address": "172.18.0.4"}]}
    assert models_missing(probe, {"port": 11434, "names": ["llama3.2", "qwen2.5"]}) == ["qwen2.5"]
    assert urls == [("http://172.18.0.4:11434/api/tags", 5, False)]


def test_models_are_not_known_without_an_address_or_an_answer_and_none_are_missing_when_none_are_wanted(monkeypatch):
    assert models_missing({"containers": [{"name": "x"}]}, {"port": 1, "names": ["a"]}) is None
    assert models_missing({"containers": [{"address": "10.1.1.1"}]}, {"port": 1, "names": []}) == []

    def down(url, timeout, use_proxy):
        raise OSError("connection refused")

    monkeypatch.setattr(deploy_step, "open_url", down)
    assert models_missing({"containers": [{"address": "10.1.1.1"}]}, {"port": 1, "names": ["a"]}) is None


# -- links, checked from inside the container's network ------------------------------------------------------------
ENDPOINTS = [{"name": "postgres", "host": "postgres", "port": "5432"}, {"name": "redis", "host": "redis", "port": 6379}]


def test_links_are_checked_from_inside_the_network_of_the_running_container(monkeypatch):
    seen = []
    monkeypatch.setattr(deploy_step, "in_netns", lambda pid, eps: seen.append((pid, eps)) or [
        {"ok": True, "address": "172.18.0.2:5432"}, {"ok": False, "address": "172.18.0.3:6379", "detail": "refused"}])
    commands = []

    def run(argv):
        commands.append(argv)
        return 0, "4242\n", ""

    got = wiring(run, {"container": "aiplatform-n8n", "endpoints": ENDPOINTS})
    assert commands == [["docker", "inspect", "-f", "{{.State.Pid}}", "aiplatform-n8n"]]
    assert seen == [(4242, [("postgres", 5432), ("redis", 6379)])]
    assert got == {"postgres": {"ok": True, "address": "172.18.0.2:5432"},
                   "redis": {"ok": False, "address": "172.18.0.3:6379", "detail": "refused"}}


@pytest.mark.parametrize("answer", [(1, "", "No such container"), (0, "0\n", ""), (0, "", "")])
def test_the_links_of_a_container_that_does_not_run_are_all_broken(monkeypatch, answer):
    monkeypatch.setattr(deploy_step, "in_netns", lambda pid, eps: pytest.fail("no namespace to enter"))
    got = wiring(lambda argv: answer, {"container": "aiplatform-n8n", "endpoints": ENDPOINTS})
    assert got == {"postgres": {"ok": False, "address": "postgres:5432", "detail": "aiplatform-n8n is not running"},
                   "redis": {"ok": False, "address": "redis:6379", "detail": "aiplatform-n8n is not running"}}


def test_a_network_that_cannot_be_entered_breaks_every_link_with_the_reason(monkeypatch):
    def refuse(pid, eps):
        raise PermissionError("setns: operation not permitted")

    monkeypatch.setattr(deploy_step, "in_netns", refuse)
    got = wiring(lambda argv: (0, "77", ""), {"container": "c", "endpoints": ENDPOINTS[:1]})
    assert got == {"postgres": {"ok": False, "address": "postgres:5432",
                                "detail": "cannot enter the network of c: setns: operation not permitted"}}


# -- stop, roll back, up, with compose replaced --------------------------------------------------------------------
class FakeDeployer:
    """ProjectDeployer as run_step uses it: every call recorded; a project named in `fails` raises compose's error."""

    calls: list = []
    fails: dict = {}

    def __init__(self, run, project_src, project_name, check_mode=False):
        self.name, self.check_mode = project_name, check_mode
        assert run == "RUN", "compose is run through the step's own runner"
        self.calls.append(("init", project_src, project_name, check_mode))

    def _answer(self, what, **facts):
        self.calls.append((what, self.name, facts))
        if self.name in self.fails:
            raise self.fails[self.name]
        return {"changed": True, "did": what, **facts}

    def present(self, files, pull, networks, recreate_services, validated):
        return self._answer("present", files=files, pull=pull, networks=networks, recreate_services=recreate_services,
                            validated=validated, check_mode=self.check_mode)

    def previous(self):
        return self._answer("previous")

    def stopped(self):
        return self._answer("stopped")


@pytest.fixture
def compose(monkeypatch):
    FakeDeployer.calls, FakeDeployer.fails = [], {}
    monkeypatch.setattr(deploy_step, "ProjectDeployer", FakeDeployer)
    monkeypatch.setattr(deploy_step.drift, "remember", lambda *a: True)
    monkeypatch.setattr(deploy_step.drift, "check_step", lambda run, checks, results, inspected: {})
    return FakeDeployer


def project(name, **extra):
    return {"service": name, "project_src": f"/opt/aiplatform/{name}", "project_name": f"aiplatform-{name}", **extra}


def test_a_stop_and_a_rollback_each_reach_compose_and_answer_per_service(compose):
    compose.fails = {"aiplatform-dify": ComposeError({"category": "engine", "cause": "daemon gone"})}
    out = run_step({"stop": [project("n8n"), project("dify")], "previous": [project("litellm")]}, run="RUN")
    assert out["stop"] == {"n8n": {"changed": True, "did": "stopped"},
                           "dify": {"category": "engine", "cause": "daemon gone", "failed": True, "changed": False}}
    assert out["previous"] == {"litellm": {"changed": True, "did": "previous"}}
    assert ("init", "/opt/aiplatform/litellm", "aiplatform-litellm", False) in compose.calls


def test_check_mode_stops_rolls_back_and_starts_nothing(compose):
    out = run_step({"stop": [project("n8n")], "previous": [project("dify")], "up": [project("flowise")]},
                   check_mode=True, run="RUN")
    assert compose.calls == []
    assert "stop" not in out and "previous" not in out and "up" not in out


def test_an_up_gets_the_pull_policy_the_networks_and_what_the_check_validated(compose):
    p = project("n8n", files={"compose.yml": {"content": "x"}}, recreate_services=["n8n"], validated={"hash": "h"},
                model={"external_networks": ["aiplatform-link-b"]})
    out = run_step({"up": [p], "networks": ["aiplatform-link-a"], "pull": "always"}, run="RUN")
    facts = out["up"]["n8n"]
    assert facts["pull"] == "always"
    assert facts["networks"] == ["aiplatform-link-a", "aiplatform-link-b"]
    assert facts["files"] == {"compose.yml": {"content": "x"}}
    assert facts["recreate_services"] == ["n8n"] and facts["validated"] == {"hash": "h"}
    assert facts["check_mode"] is False


def test_an_up_pulls_only_missing_images_unless_asked_and_joins_no_network_it_was_not_given(compose):
    out = run_step({"up": [project("n8n")]}, run="RUN")
    assert out["up"]["n8n"]["pull"] == "missing" and out["up"]["n8n"]["networks"] == []
    assert out["up"]["n8n"]["files"] == {}


@pytest.mark.parametrize("error", [OSError("disk full"), ValueError("bad YAML")])
def test_an_up_whose_files_cannot_be_written_fails_as_config(compose, error):
    compose.fails = {"aiplatform-n8n": error}
    out = run_step({"up": [project("n8n")]}, run="RUN")
    assert out["up"]["n8n"]["failed"] is True and out["up"]["n8n"]["changed"] is False
    assert out["up"]["n8n"]["category"] == "config" and out["up"]["n8n"]["cause"] == str(error)
    assert out["up"]["n8n"]["advice"]


def test_a_check_that_asks_to_start_a_changed_project_brings_it_up_with_what_it_validated(compose, monkeypatch):
    answers = {True: {"changed": True, "changed_files": ["compose.yml"], "validated": {"hash": "v1"}},
               False: {"changed": True, "actions": ["up"]}}

    def present(self, files, pull, networks, recreate_services, validated):
        self.calls.append((self.check_mode, validated))
        return dict(answers[self.check_mode])

    monkeypatch.setattr(FakeDeployer, "present", present)
    out = run_step({"check": [project("redis", start_if_changed=True), project("n8n")]}, run="RUN")
    assert out["check"]["redis"]["brought_up"] is True and out["check"]["redis"]["actions"] == ["up"]
    assert [c for c in compose.calls if c[0] != "init"] == [(True, None), (False, {"hash": "v1"}), (True, None)]
    assert "brought_up" not in out["check"]["n8n"] and out["check"]["n8n"]["changed"] is True


def test_a_check_is_not_followed_by_an_up_in_check_mode_or_when_nothing_changed_or_it_failed(compose, monkeypatch):
    def present(self, files, pull, networks, recreate_services, validated):
        self.calls.append(self.check_mode)
        return {"redis": {"changed": False}, "n8n": {"failed": True, "changed_files": ["x"]}}.get(
            self.name.split("-")[1], {"changed": True, "changed_files": ["x"]})

    monkeypatch.setattr(FakeDeployer, "present", present)
    run_step({"check": [project("redis", start_if_changed=True), project("n8n", start_if_changed=True)]}, run="RUN")
    assert [c for c in compose.calls if not isinstance(c, tuple)] == [True, True]
    compose.calls.clear()
    out = run_step({"check": [project("dify", start_if_changed=True)]}, check_mode=True, run="RUN")
    assert [c for c in compose.calls if not isinstance(c, tuple)] == [True]
    assert "brought_up" not in out["check"]["dify"]


def test_an_up_that_fails_in_the_check_is_reported_as_the_failure_not_as_brought_up(compose, monkeypatch):
    def present(self, files, pull, networks, recreate_services, validated):
        if self.check_mode:
            return {"changed": True, "changed_files": ["compose.yml"]}
        return {"failed": True, "category": "port", "cause": "port 5432 is taken"}

    monkeypatch.setattr(FakeDeployer, "present", present)
    out = run_step({"check": [project("postgres", start_if_changed=True)]}, run="RUN")
    assert out["check"]["postgres"] == {"failed": True, "category": "port", "cause": "port 5432 is taken",
                                        "changed": False}


# -- probes --------------------------------------------------------------------------------------------------------
def test_an_engine_that_does_not_answer_leaves_every_asked_service_waiting_with_the_reason(compose, monkeypatch):
    def no_engine(run, wanted, baseline, log_lines, raw=None):
        raise RuntimeError("Cannot connect to the Docker daemon")

    monkeypatch.setattr(deploy_step, "probe_services", no_engine)
    out = run_step({"probe": [{"name": "n8n"}, {"name": "dify"}]}, run="RUN")
    assert out["probe"] == engine_down([{"name": "n8n"}, {"name": "dify"}], RuntimeError("x")) | {
        n: {"verdict": "waiting", "detail": "the Docker engine does not answer: Cannot connect to the Docker daemon",
            "engine_down": True} for n in ("n8n", "dify")}


def test_the_unchanged_projects_of_a_check_are_probed_with_the_baseline_and_log_lines_asked(compose, monkeypatch):
    asked = []

    def probe(run, wanted, baseline, log_lines, raw=None):
        asked.append((wanted, baseline, log_lines))
        return {w["name"]: {"verdict": "ready", "detail": "HTTP 200"} for w in wanted}

    monkeypatch.setattr(deploy_step, "probe_services", probe)
    monkeypatch.setattr(FakeDeployer, "present", lambda self, *a, **k: {"changed": self.name.endswith("dify")})
    out = run_step({"check": [project("n8n", probe={"type": "http"}, target="n8n"), project("redis"),
                              project("dify", probe={"type": "http"})],
                    "baseline": {"aiplatform-n8n": 2}, "log_lines": 7}, run="RUN")
    assert asked == [([{"name": "n8n", "project": "aiplatform-n8n", "probe": {"type": "http"}, "target": "n8n"}],
                      {"aiplatform-n8n": 2}, 7)]
    assert out["probe"] == {"n8n": {"verdict": "ready", "detail": "HTTP 200"}}


# -- what follows a probe in the same step ---------------------------------------------------------------------------
@pytest.fixture
def host(compose, monkeypatch):
    """probe_services answering `host.ready` as ready, everything else waiting; the other parts recorded."""

    class Host:
        ready: set = set()
        done: list = []

    def probe(run, wanted, baseline, log_lines, raw=None):
        return {w["name"]: {"verdict": "ready" if w["name"] in Host.ready else "waiting", "detail": "",
                            "containers": [{"service": w["name"], "address": "172.18.0.9", "name": f"c-{w['name']}"}]}
                for w in wanted}

    def databases(run, container, admin_user, dbs, check_mode):
        Host.done.append(("databases", container, admin_user, dbs, check_mode))
        return ["created database n8n"]

    def ensure(kind):
        def fake(spec, base, check_mode, wait):
            Host.done.append((kind, spec["service"], base, check_mode, wait))
            return {"ok": True, "action": "created"}
        return fake

    monkeypatch.setattr(deploy_step, "probe_services", probe)
    monkeypatch.setattr(deploy_step.app_databases, "ensure", databases)
    monkeypatch.setattr(deploy_step.first_admin, "ensure", ensure("admin"))
    monkeypatch.setattr(deploy_step.litellm_keys, "ensure", ensure("keys"))
    monkeypatch.setattr(deploy_step, "models_missing", lambda probe, spec: Host.done.append(("models", spec["service"]))
                        or ["qwen2.5"])
    monkeypatch.setattr(deploy_step, "wiring", lambda run, w: Host.done.append(("wiring", w["name"])) or {})
    monkeypatch.setattr(deploy_step, "probe_remote", lambda dep: {"verdict": "ready", "detail": dep["name"]})
    Host.ready, Host.done = set(), []
    return Host


ASKS = {"probe": [{"name": "postgres"}, {"name": "n8n"}, {"name": "litellm"}, {"name": "ollama"}],
        "databases": {"when_ready": "postgres", "container": "aiplatform-postgres", "databases": [{"name": "n8n"}]},
        "admins": [{"service": "n8n", "port": 5678}],
        "virtual_keys": [{"service": "litellm", "port": 4000, "wait": 5}],
        "models": [{"service": "ollama", "names": ["qwen2.5"]}],
        "wiring": [{"name": "n8n", "if_ready": True}, {"name": "dify"}],
        "remote": [{"name": "redis", "host": "10.0.0.2", "port": 6379}]}


def test_each_part_is_done_in_the_step_in_which_its_service_answers(host):
    host.ready = {"postgres", "n8n", "litellm", "ollama"}
    out = run_step(dict(ASKS), run="RUN")
    assert out["databases"] == {"ok": True, "changes": ["created database n8n"]}
    assert ("databases", "aiplatform-postgres", "postgres", [{"name": "n8n"}], False) in host.done
    assert out["admins"] == {"n8n": {"ok": True, "action": "created"}}
    assert ("admin", "n8n", "http://172.18.0.9:5678", False, 30.0) in host.done
    assert out["virtual_keys"] == {"litellm": {"ok": True, "action": "created"}}
    assert ("keys", "litellm", "http://172.18.0.9:4000", False, 5.0) in host.done
    assert out["models"] == {"ollama": ["qwen2.5"]}
    assert out["wiring"] == {"n8n": {}, "dify": {}}
    assert out["remote"] == {"redis": {"verdict": "ready", "detail": "redis"}}


def test_nothing_is_done_for_a_service_that_does_not_answer_yet_but_unconditional_links_are_checked(host):
    out = run_step(dict(ASKS), run="RUN")
    assert "databases" not in out
    assert out["admins"] == {} and out["virtual_keys"] == {} and out["models"] == {}
    assert out["wiring"] == {"dify": {}}
    assert [d for d in host.done if d[0] != "wiring"] == []


def test_databases_not_tied_to_a_probe_are_made_at_once_and_their_error_is_reported_with_its_category(
        host, monkeypatch):
    dbs = {"container": "pg", "admin_user": "root", "databases": []}
    run_step({"databases": dbs}, check_mode=True, run="RUN")
    assert host.done == [("databases", "pg", "root", [], True)]

    def refused(run, container, admin_user, dbs, check_mode):
        raise deploy_step.app_databases.DatabaseError("password authentication failed", "auth")

    monkeypatch.setattr(deploy_step.app_databases, "ensure", refused)
    out = run_step({"databases": dbs}, run="RUN")
    assert out["databases"] == {"ok": False, "category": "auth", "cause": "password authentication failed"}


def test_an_administrator_or_keys_asked_of_a_container_without_an_address_fail_without_a_call(host, monkeypatch):
    got = deploy_step.claim_admin({"service": "n8n", "port": 5678}, {"containers": [{"service": "n8n"}]}, False)
    assert got["ok"] is False and got["changed"] is False and got["category"] == "unknown"
    assert got["cause"] == "setup of the first administrator: container n8n has no network address"
    got = deploy_step.register_keys({"service": "litellm", "target": "proxy", "port": 4000},
                                    {"containers": [{"service": "litellm", "address": "10.1.1.1"}]}, True)
    assert got["ok"] is False and got["cause"] == "virtual keys: container proxy has no network address"
    assert host.done == []


def test_the_run_lock_is_given_back_only_by_a_settled_step_outside_check_mode(host, monkeypatch):
    released = []
    monkeypatch.setattr(deploy_step.run_lock, "release", lambda d, r: released.append((d, r)) or True)
    host.ready = {"n8n"}
    lock = {"dir": "/run/aiplatform", "run": "r1"}
    out = run_step({"probe": [{"name": "n8n"}], "release_lock_if_settled": lock}, run="RUN")
    assert out["lock_released"] is True and released == [("/run/aiplatform", "r1")]
    out = run_step({"probe": [{"name": "n8n"}], "release_lock_if_settled": lock}, check_mode=True, run="RUN")
    assert "lock_released" not in out and len(released) == 1
    out = run_step({"probe": [{"name": "n8n"}, {"name": "dify"}], "release_lock_if_settled": lock}, run="RUN")
    assert "lock_released" not in out and len(released) == 1


def test_what_was_started_is_remembered_for_status_and_what_failed_is_not(compose, monkeypatch):
    remembered = []
    monkeypatch.setattr(deploy_step.drift, "remember", lambda src, config_hash, model: remembered.append((src, config_hash, model)))
    monkeypatch.setattr(FakeDeployer, "present", lambda self, *a, **k: {"config_hash": "h-" + self.name}
                        if self.name != "aiplatform-dify" else {"failed": True})
    run_step({"up": [project("n8n", model={"m": 1}), project("dify")]}, run="RUN")
    assert remembered == [("/opt/aiplatform/n8n", "h-aiplatform-n8n", {"m": 1})]
    remembered.clear()
    run_step({"up": [project("n8n")]}, check_mode=True, run="RUN")
    assert remembered == []


def test_a_poll_asked_for_probes_again_until_a_service_answers(host, monkeypatch):
    polled = []
    monkeypatch.setattr(deploy_step, "poll", lambda run, request, out, pool_map: polled.append(request["poll"]) or 3)
    out = run_step({"probe": [{"name": "n8n"}], "poll": {"seconds": 2}}, run="RUN")
    assert out["polls"] == 3 and polled == [{"seconds": 2}]
    out = run_step({"poll": {"seconds": 2}}, run="RUN")
    assert "polls" not in out and len(polled) == 1


# -- the poll ------------------------------------------------------------------------------------------------------
def polled(request, out, monkeypatch, probe=None, remote=None):
    clock, asked = FakeTime(), []

    def fake_probe(run, wanted, baseline, log_lines):
        asked.append((run, [dict(w) for w in wanted], dict(baseline), log_lines))
        return probe(clock()) if probe else {w["name"]: {"verdict": "waiting", "detail": ""} for w in wanted}

    monkeypatch.setattr(deploy_step, "probe_services", fake_probe)
    monkeypatch.setattr(deploy_step, "probe_remote", lambda dep: remote(clock()) if remote else {"verdict": "waiting"})
    monkeypatch.setattr(deploy_step, "log_tail", lambda run, name, lines: asked.append(("logs", run, name, lines))
                        or ["FATAL"])
    rounds = deploy_step.poll("RUN", request, out, lambda fn, items: [fn(i) for i in items], clock=clock,
                              sleep=clock.sleep, rng=NoJitter)
    return rounds, clock, asked


def test_a_poll_lasts_five_seconds_unless_told_and_its_pauses_double_from_a_quarter_second_to_one(monkeypatch):
    answers = {"probe": {"n8n": {"verdict": "waiting"}}, "remote": {}}
    rounds, clock, asked = polled({"probe": [{"name": "n8n"}], "poll": {}}, answers, monkeypatch)
    assert rounds == 6 and clock() == pytest.approx(4.75)  # 0.25 + 0.5 + 1 + 1 + 1 + 1; one more would pass 5 s
    rounds, clock, asked = polled({"probe": [{"name": "n8n"}], "poll": {"seconds": 2, "base": 0.5, "cap": 0.5}},
                                  {"probe": {"n8n": {"verdict": "waiting"}}, "remote": {}}, monkeypatch)
    assert rounds == 4 and clock() == pytest.approx(2.0)  # a round that ends exactly at the window still counts


def test_a_poll_probes_with_the_asked_baseline_and_log_lines_but_fetches_no_log_in_between(monkeypatch):
    request = {"probe": [{"name": "n8n", "with_logs": True}], "poll": {"seconds": 1}, "baseline": {"c-n8n": 3},
               "log_lines": 7}
    out = {"probe": {"n8n": {"verdict": "waiting", "containers": [{"name": "c-n8n", "restart_count": 5}]}}, "remote": {}}
    rounds, clock, asked = polled(request, out, monkeypatch)
    probes = [a for a in asked if a[0] == "RUN"]
    assert probes and all(w == [{"name": "n8n", "with_logs": False}] and b == {"c-n8n": 3} and n == 7
                          for dummy, w, b, n in probes)
    assert request["baseline"] == {"c-n8n": 3}  # the request itself is left as it was


def test_a_poll_that_ends_waiting_fetches_the_log_once_of_the_services_that_asked_for_it(monkeypatch):
    request = {"probe": [{"name": "n8n", "with_logs": True}, {"name": "dify"}], "poll": {"seconds": 1},
               "log_lines": 9}

    def probe(t):
        return {"n8n": {"verdict": "waiting", "containers": [{"name": "c-n8n", "restart_count": 0}]},
                "dify": {"verdict": "waiting", "containers": [{"name": "c-dify", "restart_count": 0}]}}

    out = {"probe": probe(0), "remote": {}}
    rounds, clock, asked = polled(request, out, monkeypatch, probe=probe)
    assert [a for a in asked if a[0] == "logs"] == [("logs", "RUN", "c-n8n", 9)]
    assert out["probe"]["n8n"]["logs"] == ["FATAL"] and "logs" not in out["probe"]["dify"]


def test_a_poll_that_ends_with_an_answer_or_makes_no_round_fetches_no_log(monkeypatch):
    request = {"probe": [{"name": "n8n", "with_logs": True}], "poll": {"seconds": 5}}
    out = {"probe": {"n8n": {"verdict": "waiting", "containers": [{"name": "c", "restart_count": 0}]}}, "remote": {}}
    rounds, clock, asked = polled(request, out, monkeypatch,
                                  probe=lambda t: {"n8n": {"verdict": "ready", "containers": [{"name": "c"}]}})
    assert rounds == 1 and not [a for a in asked if a[0] == "logs"]
    out = {"probe": {"n8n": {"verdict": "waiting", "containers": [{"name": "c", "restart_count": 0}]}}, "remote": {}}
    rounds, clock, asked = polled(dict(request, poll={"seconds": 0.1}), out, monkeypatch)
    assert rounds == 0 and asked == []


def test_a_poll_of_remote_dependencies_alone_ends_when_one_answers(monkeypatch):
    request = {"remote": [{"name": "redis", "host": "h", "port": 6379}], "poll": {"seconds": 5}}
    out = {"probe": {}, "remote": {"redis": {"verdict": "waiting"}}}
    rounds, clock, asked = polled(request, out, monkeypatch,
                                  remote=lambda t: {"verdict": "ready" if t >= 1.0 else "waiting", "detail": "tcp"})
    assert out["remote"] == {"redis": {"verdict": "ready", "detail": "tcp"}}
    assert rounds == 3 and asked == []  # nothing local to probe


def test_a_poll_during_which_the_engine_stops_answering_says_so_for_each_service(monkeypatch):
    def no_engine(run, wanted, baseline, log_lines):
        raise RuntimeError("Cannot connect")

    monkeypatch.setattr(deploy_step, "probe_services", no_engine)
    out = {"probe": {"n8n": {"verdict": "waiting"}}, "remote": {}}
    clock = FakeTime()
    deploy_step.poll(None, {"probe": [{"name": "n8n"}], "poll": {"seconds": 1}}, out, None, clock=clock,
                     sleep=clock.sleep, rng=NoJitter)
    assert out["probe"] == {"n8n": {"verdict": "waiting", "engine_down": True,
                                    "detail": "the Docker engine does not answer: Cannot connect"}}


# -- the drift check, and when a step is settled ---------------------------------------------------------------------
def test_a_drift_check_that_cannot_judge_is_a_warning_and_unchanged_projects_are_still_remembered(compose, monkeypatch):
    def broken(run, checks, results, inspected):
        raise KeyError("State")

    remembered = []
    monkeypatch.setattr(deploy_step.drift, "check_step", broken)
    monkeypatch.setattr(deploy_step.drift, "remember", lambda src, h, model: remembered.append(src))
    monkeypatch.setattr(FakeDeployer, "present", lambda self, *a, **k: {
        "changed": self.name == "aiplatform-dify", "failed": self.name == "aiplatform-n8n"})
    out = run_step({"check": [project("redis"), project("dify"), project("n8n")]}, run="RUN")
    assert out["warnings"] == ["drift check skipped: 'State'"]
    assert remembered == ["/opt/aiplatform/redis"]
    remembered.clear()
    run_step({"check": [project("redis")]}, check_mode=True, run="RUN")
    assert remembered == []


def test_containers_that_drifted_count_as_changed_and_lose_their_probe_answer(compose, monkeypatch):
    diffs = [{"service": "redis", "container": "c-redis", "field": "image", "expected": "redis:7.4", "found": "redis:7.2"}]
    monkeypatch.setattr(deploy_step.drift, "check_step", lambda run, checks, results, inspected: {"redis": diffs})
    monkeypatch.setattr(deploy_step, "probe_services", lambda run, wanted, baseline, lines, raw=None: {
        w["name"]: {"verdict": "ready"} for w in wanted})
    monkeypatch.setattr(FakeDeployer, "present", lambda self, *a, **k: {"changed": False, "diff": [{"d": 1}]})
    out = run_step({"check": [project("redis", probe={"type": "redis"}), project("n8n", probe={"type": "http"})]},
                   run="RUN")
    assert "redis" not in out["probe"] and out["probe"]["n8n"] == {"verdict": "ready"}
    assert out["check"]["redis"]["diff"][0] == {"d": 1} and len(out["check"]["redis"]["diff"]) == 2
    assert out["check"]["redis"]["changed"] is True and out["check"]["redis"]["recreate_services"] == ["redis"]
    assert out["check"]["redis"]["reason"] == "drift: image redis:7.2 (want redis:7.4)"


def test_a_step_that_stops_or_rolls_back_or_whose_check_failed_is_not_settled():
    done = {"check": {"n8n": {}}, "probe": {"n8n": {"verdict": "ready"}}, "wiring": {}, "models": {}, "remote": {}}
    assert deploy_step.settled({"check": [{"service": "n8n"}]}, done)
    assert not deploy_step.settled({"check": [{"service": "n8n"}], "stop": [{"service": "dify"}]}, done)
    assert not deploy_step.settled({"check": [{"service": "n8n"}], "previous": [{"service": "dify"}]}, done)
    assert not deploy_step.settled({"check": [{"service": "n8n"}]}, dict(done, check={"n8n": {"failed": True}}))


# -- Redis, asked in its own protocol --------------------------------------------------------------------------------
@pytest.mark.parametrize(("reply", "expected"), [(b"+PONG\r\n", (True, "+PONG")),
                                                 (b"-NOAUTH Authentication required.\r\n-ERR x\r\n",
                                                  (True, "-NOAUTH Authentication required.")),
                                                 (b"-LOADING Redis is loading the dataset in memory\r\n",
                                                  (False, "-LOADING Redis is loading the dataset in memory")),
                                                 (b"", (False, "no answer"))])
def test_redis_is_serving_when_it_answers_pong_or_asks_for_a_password(reply, expected):
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    got = []

    def answer():
        conn, dummy = server.accept()
        with conn:
            got.append(conn.recv(64))
            conn.sendall(reply)

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        assert deploy_step.redis_ping("127.0.0.1", str(server.getsockname()[1]), timeout=2.0) == expected
    finally:
        thread.join(5)
        server.close()
    assert got == [b"PING\r\n"]


# -- the details that decide what reaches compose, the engine and the network ---------------------------------------
def test_a_compose_error_of_an_up_is_answered_as_a_failure_with_compose_s_own_category(compose):
    compose.fails = {"aiplatform-n8n": ComposeError({"category": "port", "cause": "port 5678 is taken", "advice": "x"})}
    out = run_step({"up": [project("n8n")]}, run="RUN")
    assert out["up"]["n8n"] == {"category": "port", "cause": "port 5678 is taken", "advice": "x", "failed": True,
                                "changed": False}


def test_the_check_and_the_up_it_leads_to_use_the_pull_policy_asked(compose, monkeypatch):
    pulls = []

    def present(self, files, pull, networks, recreate_services, validated):
        pulls.append((self.check_mode, pull))
        return {"changed": True, "changed_files": ["compose.yml"]}

    monkeypatch.setattr(FakeDeployer, "present", present)
    run_step({"check": [project("redis", start_if_changed=True)], "pull": "always"}, run="RUN")
    assert pulls == [(True, "always"), (False, "always")]


def test_a_project_brought_up_or_failed_by_the_check_is_neither_probed_nor_judged_for_drift(compose, monkeypatch):
    probed, judged = [], []
    monkeypatch.setattr(deploy_step, "probe_services", lambda run, wanted, baseline, lines, raw=None: probed.extend(
        w["name"] for w in wanted) or {})
    monkeypatch.setattr(deploy_step.drift, "check_step", lambda run, checks, results, inspected: judged.extend(
        p["service"] for p in checks) or {})
    answers = {"aiplatform-redis": {"changed": True, "changed_files": ["x"]}, "aiplatform-n8n": {"failed": True},
               "aiplatform-dify": {"changed": False}}
    monkeypatch.setattr(FakeDeployer, "present", lambda self, *a, **k: dict(answers[self.name]))
    probe = {"type": "http"}
    run_step({"check": [project("redis", start_if_changed=True, probe=probe), project("n8n", probe=probe),
                        project("dify", probe=probe)]}, run="RUN")
    assert probed == ["dify"] and judged == ["n8n", "dify"]


def test_a_drifted_project_that_has_no_probe_is_judged_all_the_same(compose, monkeypatch):
    diffs = [{"service": "redis", "container": "c", "field": "image", "expected": "a", "found": "b"}]
    monkeypatch.setattr(deploy_step.drift, "check_step", lambda run, checks, results, inspected: {"redis": diffs})
    monkeypatch.setattr(FakeDeployer, "present", lambda self, *a, **k: {"changed": False})
    out = run_step({"check": [project("redis")]}, run="RUN")
    assert out["check"]["redis"]["changed"] is True and out["probe"] == {}


def test_probes_read_twenty_log_lines_unless_asked_otherwise(compose, monkeypatch):
    lines = []
    monkeypatch.setattr(deploy_step, "probe_services", lambda run, wanted, baseline, n, raw=None: lines.append(n) or {})
    run_step({"probe": [{"name": "n8n"}]}, run="RUN")
    assert lines == [20]
    clock, tails = FakeTime(), []
    monkeypatch.setattr(deploy_step, "probe_services", lambda run, wanted, baseline, n: lines.append(n) or {
        "n8n": {"verdict": "waiting", "containers": [{"name": "c", "restart_count": 0}]}})
    monkeypatch.setattr(deploy_step, "log_tail", lambda run, name, n: tails.append(n) or [])
    out = {"probe": {"n8n": {"verdict": "waiting", "containers": [{"name": "c", "restart_count": 0}]}}, "remote": {}}
    deploy_step.poll(None, {"probe": [{"name": "n8n", "with_logs": True}], "poll": {"seconds": 1}}, out, None,
                     clock=clock, sleep=clock.sleep, rng=NoJitter)
    assert set(lines) == {20} and tails == [20]


def test_a_poll_ending_on_a_service_whose_answer_has_its_log_already_fetches_no_other(monkeypatch):
    out = {"probe": {"n8n": {"verdict": "waiting", "containers": [{"name": "c", "restart_count": 0}]}}, "remote": {}}
    rounds, clock, asked = polled({"probe": [{"name": "n8n", "with_logs": True}], "poll": {"seconds": 1}}, out,
                                  monkeypatch, probe=lambda t: {"n8n": {"verdict": "waiting", "logs": ["own"],
                                                                        "containers": [{"name": "c", "restart_count": 0}]}})
    assert out["probe"]["n8n"]["logs"] == ["own"] and not [a for a in asked if a[0] == "logs"]


def test_the_pause_of_a_poll_is_drawn_between_zero_and_the_doubling_pause(monkeypatch):
    drawn = []

    class Recording:
        @staticmethod
        def uniform(low, high):
            drawn.append((low, high))
            return high

    monkeypatch.setattr(deploy_step, "probe_services", lambda run, wanted, baseline, n: {
        w["name"]: {"verdict": "waiting"} for w in wanted})
    clock = FakeTime()
    deploy_step.poll(None, {"probe": [{"name": "n8n"}], "poll": {"seconds": 2}},
                     {"probe": {"n8n": {"verdict": "waiting"}}, "remote": {}}, None, clock=clock, sleep=clock.sleep,
                     rng=Recording)
    assert drawn[:4] == [(0.0, 0.25), (0.0, 0.5), (0.0, 1.0), (0.0, 1.0)]


def test_the_step_s_own_runner_reaches_the_poll_the_databases_the_models_and_the_links(host, monkeypatch):
    seen = {}
    monkeypatch.setattr(deploy_step, "poll", lambda run, request, out, pool_map: seen.update(
        poll=(run, sorted(out), pool_map(lambda x: x * 2, [1]))) or 1)
    monkeypatch.setattr(deploy_step, "models_missing", lambda probe, spec: seen.update(models=probe) or [])
    monkeypatch.setattr(deploy_step, "wiring", lambda run, w: seen.update(wiring=run) or {})

    def databases(run, container, admin_user, dbs, check_mode):
        seen["databases"] = run(["psql"], "CREATE DATABASE n8n")
        return []

    monkeypatch.setattr(deploy_step.app_databases, "ensure", databases)
    host.ready = {"postgres", "ollama"}
    calls = []

    def run(argv, data=None):
        calls.append((argv, data))
        return 0, "", ""

    run_step({"probe": [{"name": "postgres"}, {"name": "ollama"}], "poll": {"seconds": 1},
              "databases": {"when_ready": "postgres", "container": "pg", "databases": []},
              "models": [{"service": "ollama", "names": ["a"]}], "wiring": [{"name": "dify"}]}, run=run)
    assert seen["poll"][0] is run and "probe" in seen["poll"][1] and seen["poll"][2] == [2]
    assert calls == [(["psql"], "CREATE DATABASE n8n")] and seen["databases"] == (0, "", "")
    assert seen["models"]["verdict"] == "ready" and seen["wiring"] is run


def test_a_redis_that_answers_in_bytes_that_are_not_utf8_is_still_read():
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def answer():
        conn, dummy = server.accept()
        with conn:
            conn.recv(64)
            conn.sendall(b"-ERR \xff\xfe\r\n")

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        ok, line = deploy_step.redis_ping("127.0.0.1", server.getsockname()[1], timeout=2.0)
    finally:
        thread.join(5)
        server.close()
    assert ok is False and line.startswith("-ERR ")


def test_a_redis_that_accepts_but_never_answers_is_given_up_after_the_timeout():
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(OSError):
            deploy_step.redis_ping("127.0.0.1", server.getsockname()[1], timeout=0.3)
    finally:
        server.close()
