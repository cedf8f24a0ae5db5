"""First administrators: each application's setup protocol against the lab stand-in (which models the real routes,
answers and status codes) on 127.0.0.1, the scheduler's handling of the outcome, the password policy, the email check."""
from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import deploy_step, first_admin, inputs, secrets_store
from ansible_collections.aiplatform.stack.plugins.plugin_utils.scheduler import Scheduler

from .test_scheduler import SEED, Clock, FakeHost, service

STANDIN = os.path.join(os.path.dirname(__file__), "..", "..", "lab", "images", "standin", "standin.py")
PASSWORD = "Ab3-" + "x" * 20
OTHER_PASSWORD = "Other-1234567"
WRONG_INIT = "wrong"
EMAIL = "admin@aiplatform.local"
TARGET = {"n8n": "n8n", "flowise": "flowise", "openwebui": "openwebui", "dify": "api", "anythingllm": "anythingllm"}


@pytest.fixture(scope="module")
def standin():
    spec = importlib.util.spec_from_file_location("standin_under_test", STANDIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = ThreadingHTTPServer(("127.0.0.1", 0), module.Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield module, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def app(standin, tmp_path, monkeypatch):
    """app(kind, **env): the stand-in now models `kind`'s setup, with a fresh (or the given) store."""
    module, base = standin
    module.INIT_SESSIONS.clear()

    def configure(kind: str, **env) -> str:
        monkeypatch.setenv("STANDIN_SETUP", kind)
        monkeypatch.setenv("STANDIN_SETUP_FILE", str(tmp_path / "admin.json"))
        for key in ("INIT_PASSWORD", "AUTH_TOKEN", "ENABLE_SIGNUP", "ENABLE_INITIAL_ADMIN_SIGNUP"):
            monkeypatch.delenv(key, raising=False)
        defaults = {"dify": {"INIT_PASSWORD": "init-secret"}, "anythingllm": {"AUTH_TOKEN": PASSWORD},
                    "openwebui": {"ENABLE_SIGNUP": "False", "ENABLE_INITIAL_ADMIN_SIGNUP": "True"}}
        for key, value in dict(defaults.get(kind, {}), **env).items():
            monkeypatch.setenv(key, value)
        return base
    return configure


def spec_for(kind: str, **extra) -> dict:
    return dict({"kind": kind, "service": kind, "target": TARGET[kind], "email": EMAIL, "name": "Platform Admin",
                 "password": PASSWORD, "init_password": "init-secret" if kind == "dify" else None,
                 "secrets_file": f"/opt/aiplatform/secrets/{kind}.json", "reset": "how to reset"}, **extra)


def post(base: str, path: str, body: dict) -> int:
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


# What an anonymous visitor would send to become the first administrator.
ANONYMOUS_SETUP = {
    "n8n": ("/rest/owner/setup", {"email": "x@evil.example", "firstName": "X", "lastName": "Y", "password": "Evil1234X"}),
    "flowise": ("/api/v1/account/register", {"user": {"name": "x", "email": "x@evil.example", "credential": "Evil-1234x"}}),
    "openwebui": ("/api/v1/auths/signup", {"name": "x", "email": "x@evil.example", "password": "Evil-1234x"}),
    "dify": ("/console/api/setup", {"email": "x@evil.example", "name": "x", "password": "Evil1234x"}),
}


@pytest.mark.parametrize("kind", ["n8n", "flowise", "openwebui", "dify"])
def test_the_first_administrator_is_made_then_verified_and_anonymous_setup_is_refused(app, kind):
    base = app(kind)
    assert first_admin.ensure(spec_for(kind), base, wait=1) == {"ok": True, "changed": True, "action": "created"}
    path, body = ANONYMOUS_SETUP[kind]
    assert post(base, path, body) in (400, 401, 403)  # the application's own refusal
    # a re-run: exists, and the stored credentials log in; nothing changes
    assert first_admin.ensure(spec_for(kind), base, wait=1) == {"ok": True, "changed": False, "action": "verified"}
    assert first_admin.ensure(spec_for(kind), base, check_mode=True, wait=1)["action"] == "present"


@pytest.mark.parametrize("kind", ["n8n", "flowise", "openwebui", "dify"])
def test_an_application_someone_else_set_up_is_reported_claimed_and_never_overwritten(app, kind, tmp_path):
    base = app(kind)
    path, body = ANONYMOUS_SETUP[kind]
    if kind == "dify":  # even the first visitor needs the init password there: set up with it by "someone"
        assert first_admin.ensure(spec_for(kind, email="someone@example.com"), base, wait=1)["action"] == "created"
    else:
        assert post(base, path, body) in (200, 201)
    before = (tmp_path / "admin.json").read_text()
    got = first_admin.ensure(spec_for(kind), base, wait=1)
    assert not got["ok"] and got["category"] == "claimed"
    assert EMAIL in got["cause"] and "/opt/aiplatform/secrets/" in got["advice"] and "how to reset" in got["advice"]
    assert PASSWORD not in json.dumps(got)
    assert (tmp_path / "admin.json").read_text() == before


def test_dify_is_set_up_only_with_its_init_password(app):
    base = app("dify")
    assert post(base, "/console/api/setup", {"email": EMAIL, "name": "a", "password": "Abc12345"}) == 401
    got = first_admin.ensure(spec_for("dify", init_password=WRONG_INIT), base, wait=1)
    assert not got["ok"] and "INIT_PASSWORD" in got["cause"] and "HTTP 401: Init validation failed" in got["cause"]
    assert first_admin.ensure(spec_for("dify"), base, wait=1)["action"] == "created"


def test_open_webui_allows_no_sign_up_after_the_first_and_none_at_all_when_its_environment_closes_it(app):
    base = app("openwebui")
    assert first_admin.ensure(spec_for("openwebui"), base, wait=1)["action"] == "created"
    assert post(base, "/api/v1/auths/signup", {"name": "b", "email": "b@example.com", "password": "Abc-12345"}) == 403
    other = app("openwebui", STANDIN_SETUP_FILE=os.devnull + ".none", ENABLE_INITIAL_ADMIN_SIGNUP="False")
    assert post(other, "/api/v1/auths/signup", {"name": "b", "email": "b@example.com", "password": "Abc-12345"}) == 403


def test_anythingllm_is_verified_with_its_environment_password_and_a_missing_one_is_an_error(app):
    base = app("anythingllm")
    verified = {"ok": True, "changed": False, "action": "verified"}
    assert first_admin.ensure(spec_for("anythingllm"), base, wait=1) == verified
    got = first_admin.ensure(spec_for("anythingllm", password=OTHER_PASSWORD), base, wait=1)
    assert got["category"] == "claimed"
    base = app("anythingllm", AUTH_TOKEN="")
    got = first_admin.ensure(spec_for("anythingllm"), base, wait=1)
    assert not got["ok"] and "AUTH_TOKEN" in got["cause"]


def test_a_rate_limited_login_leaves_an_existing_administrator_unverified_not_failed():
    answers = {("GET", "/rest/settings"): (200, {"data": {"userManagement": {"showSetupOnFirstLoad": False}}}),
               ("POST", "/rest/login"): (429, "Too many requests")}
    got = first_admin.ensure_once(spec_for("n8n"), lambda method, path, body=None: answers[(method, path)])
    assert got["ok"] and got["action"] == "unverified" and "429" in got["cause"]


def test_check_mode_makes_nothing(app, tmp_path):
    base = app("n8n")
    got = first_admin.ensure(spec_for("n8n"), base, check_mode=True, wait=1)
    assert got == {"ok": True, "changed": True, "action": "would_create"}
    assert not (tmp_path / "admin.json").exists()


def test_an_application_that_does_not_answer_yet_is_tried_again_until_the_wait_ends():
    clock = Clock()
    calls = []

    def opener(url, **kwargs):
        calls.append(url)
        raise OSError("connection refused")

    got = first_admin.ensure(spec_for("n8n"), "http://192.0.2.1:5678", wait=10, opener=opener, clock=clock,
                             sleep=clock.sleep)
    assert got["category"] == "timeout" and "connection refused" in got["cause"]
    assert 3 <= len(calls) <= 8 and clock.t <= 10


def test_routes_not_served_are_waited_for_and_an_answer_no_version_gives_is_reported_not_guessed(app, standin):
    base = app("")  # nothing modelled: the stand-in answers 404 to the settings route, as a starting n8n may
    got = first_admin.ensure(spec_for("n8n"), base, wait=1)
    assert got["category"] == "timeout" and "GET /rest/settings: HTTP 404" in got["cause"]
    base = app("flowise")  # n8n's question to a service that answers it otherwise
    got = first_admin.ensure(spec_for("dify"), base, wait=1)
    assert got["category"] == "timeout"
    got = first_admin.ensure_once(spec_for("n8n"), lambda method, path, body=None: (200, {"data": {}}))
    assert got["category"] == "unknown" and "no userManagement.showSetupOnFirstLoad" in got["cause"]


def test_the_host_step_sets_up_only_applications_that_answered_and_at_their_container_address(monkeypatch):
    seen = []
    monkeypatch.setattr(deploy_step.first_admin, "ensure",
                        lambda spec, base, check_mode, wait: seen.append(base) or {"ok": True, "action": "created"})
    probe = {"containers": [{"service": "web", "address": "10.0.0.2"}, {"service": "api", "address": "10.0.0.3"}]}
    assert deploy_step.claim_admin(dict(spec_for("dify"), port=5001), probe, False)["ok"]
    assert seen == ["http://10.0.0.3:5001"]
    got = deploy_step.claim_admin(dict(spec_for("dify"), port=5001), {"containers": []}, False)
    assert not got["ok"] and "no network address" in got["cause"]


def test_a_run_is_not_settled_while_an_administrator_failed():
    out = {"check": {}, "probe": {}, "wiring": {}, "models": {}, "remote": {},
           "admins": {"n8n": {"ok": False, "category": "claimed"}}}
    assert not deploy_step.settled({"check": []}, out)
    out["admins"]["n8n"] = {"ok": True, "action": "verified"}
    assert deploy_step.settled({"check": []}, out)


# -- the scheduler ---------------------------------------------------------------------------------------------
class AdminHost(FakeHost):
    """FakeHost that sets up administrators of the applications that answer: `admin` per spec is the outcome."""

    def step(self, request: dict) -> dict:
        out = super().step(request)
        out["admins"] = {a["service"]: self.specs[a["service"]].get("admin", {"ok": True, "action": "created"})
                         for a in request.get("admins") or []
                         if out["probe"].get(a["service"], {}).get("verdict") == "ready"}
        return out


def run_with_admins(specs: dict, check_mode: bool = False):
    clock = Clock()
    host = AdminHost(clock, specs)
    events: list[dict] = []
    local = [service(n, list(SEED[n])) for n in SEED if n in specs]
    for s in local:
        if s.name in ("n8n", "flowise"):
            s.admin = {"kind": s.name, "port": 1, "email": EMAIL, "password": PASSWORD,
                       "secrets_file": f"/opt/aiplatform/secrets/{s.name}.json"}
    sched = Scheduler(local, host.step, events.append, clock=clock, rng=random.Random(1),
                      check_mode=check_mode)
    summary = sched.run()
    return dict(summary, warnings=sched.warnings), events, host


def test_an_application_is_healthy_once_its_administrator_is_set_up_in_the_step_it_answers():
    specs = {n: {"ready_after": 1.0} for n in ("postgres", "redis", "n8n", "flowise", "litellm")}
    summary, events, host = run_with_admins(specs)
    assert summary["failed_services"] == [] and summary["changed"]
    made = [e for e in events if e.get("admin") == "created"]
    assert {e["service"] for e in made} == {"n8n", "flowise"}
    assert all(PASSWORD not in json.dumps(e) and "admin_password in /opt/aiplatform/secrets/" in e["message"]
               for e in made)
    asked = [r for r in host.requests if r.get("admins")]
    # asked with the probes that could turn them ready, never for a service that is not an application
    assert all({a["service"] for a in r["admins"]} <= {"n8n", "flowise"} for r in asked)
    assert all(p["name"] in {a["service"] for a in r["admins"]} or p["name"] not in ("n8n", "flowise")
               for r in asked for p in r.get("probe") or [])


def test_an_application_set_up_by_someone_else_fails_as_claimed_with_the_fix_and_the_rest_carry_on():
    specs = {n: {"ready_after": 1.0} for n in ("postgres", "redis", "n8n", "flowise", "litellm")}
    specs["n8n"]["admin"] = {"ok": False, "category": "claimed", "cause": "already set up", "advice": "reset it"}
    summary, events, dummy = run_with_admins(specs)
    assert summary["failed_services"] == ["n8n"]
    assert summary["services"]["n8n"]["category"] == "claimed"
    assert "flowise" in summary["healthy"]
    fail = next(e for e in events if e["type"] == "DEPLOY_FAIL" and e["service"] == "n8n")
    assert "[claimed]" in fail["message"]


def test_an_unverified_administrator_is_a_warning():
    specs = {n: {"running": True, "admin": {"ok": True, "action": "unverified", "cause": "HTTP 429"}}
             for n in ("postgres", "redis", "n8n", "flowise", "litellm")}
    summary, dummy, dummy2 = run_with_admins(specs)
    assert summary["failed_services"] == [] and not summary["changed"]
    assert [w.split(":")[0] for w in summary["warnings"]] == ["n8n", "flowise"]
    assert all("not tried now (HTTP 429)" in w for w in summary["warnings"])


def test_a_rerun_verifies_in_the_check_step_and_changes_nothing():
    specs = {n: {"running": True, "admin": {"ok": True, "changed": False, "action": "verified"}}
             for n in ("postgres", "redis", "n8n", "flowise", "litellm")}
    summary, events, host = run_with_admins(specs)
    assert summary["failed_services"] == [] and not summary["changed"] and summary["steps"] == 1
    assert {a["service"] for a in host.requests[0]["admins"]} == {"n8n", "flowise"}


# -- passwords and emails --------------------------------------------------------------------------------------
def test_generated_passwords_satisfy_every_applications_policy():
    for dummy in range(200):
        pw = secrets_store.generate("password", 24)
        assert len(pw) == 24 and re.search(r"\d", pw) and re.search(r"[A-Z]", pw) and re.search(r"[a-z]", pw)
        assert re.search(r"[^A-Za-z0-9]", pw) and len(pw.encode()) <= 72  # Flowise's special, bcrypt's 72 bytes
        assert inputs.env_quote(pw) == f"'{pw}'"  # written plainly into env files (AnythingLLM's AUTH_TOKEN)


@pytest.mark.parametrize("email,ok", [("admin@aiplatform.local", True), ("ops.team+ai@example.com", True),
                                      ("admin@localhost", False), ("Admin@Example.com", False),
                                      ("a@b.c", False), ("admin@example.com\nX", False), ("", False)])
def test_the_admin_email_is_checked_by_the_plan(email, ok):
    problems = inputs.service_input_problems("n8n", {"inputs": {"emails": {"aiplatform_admin_email": email}}})
    assert (problems == []) is ok, problems
    if not ok:
        assert problems[0].startswith("n8n.aiplatform_admin_email: ")


# -- what the roles render for it ------------------------------------------------------------------------------
def test_the_roles_put_the_setup_guards_into_the_environment():
    from .render_roles import render
    from .test_hardening import rendered
    from .test_inputs import read_env_file
    from .test_least_privilege import dify_vars

    env = read_env_file(render("anythingllm", "anythingllm.env.j2", anythingllm_litellm_key="sk-x",
                               aiplatform_secrets={"anythingllm": {"admin_password": PASSWORD, "jwt_secret": "j",
                                                                   "sig_key": "k", "sig_salt": "s"}}))
    assert env["AUTH_TOKEN"] == PASSWORD and env["JWT_SECRET"] == "j"  # password mode needs both
    assert read_env_file(render("dify", "dify.env.j2", **dify_vars()))["INIT_PASSWORD"] == "dify-init_password"
    environment = rendered("openwebui")["services"]["openwebui"]["environment"]
    assert environment["ENABLE_SIGNUP"] == "False" and environment["ENABLE_INITIAL_ADMIN_SIGNUP"] == "True"


# -- which service uses which setup: its own declaration ------------------------------------------------------
def test_the_kinds_are_the_protocols_spoken_and_the_module_documents_them():
    import yaml

    from ansible_collections.aiplatform.stack.plugins.modules import deploy_step as module

    assert tuple(first_admin.PROTOCOLS) == first_admin.KINDS
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["options"]["admins"]["suboptions"]["kind"]["choices"] == list(first_admin.KINDS)


def test_a_declared_kind_is_checked_by_the_plan_and_any_service_may_speak_an_existing_one():
    from ansible_collections.aiplatform.stack.plugins.plugin_utils import needs

    ok = {"wiki": {"name": "wiki", "first_admin": {"kind": "flowise", "port": 3000}}}
    assert needs.declaration_problems(ok, ["wiki"]) == []
    bad = {"wiki": {"name": "wiki", "first_admin": {"kind": "wiki", "port": 3000}}}
    (problem,) = needs.declaration_problems(bad, ["wiki"])
    assert problem.startswith("wiki.first_admin.kind: 'wiki' is not a setup") and "flowise" in problem
