"""No application left unclaimed, on the real engine after one whole-platform deploy (the shared one).

The lab's real n8n and Flowise: their anonymous owner/account setup is refused after the deploy, and the stored
credentials log in. Dify's api, Open WebUI and AnythingLLM are stand-ins that model the same setup routes, answers
and status codes (STANDIN_SETUP in inventories/lab), so the deploy's setup path for them runs too. A re-run changes
nothing; a backup, a teardown, a purge and a restore (the shared platform's cycle) keep the same credentials. Only 127.0.0.1 is addressed.
"""
import json
import urllib.error
import urllib.request

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import first_admin

from .conftest import stored_secrets

# application -> its published port on 127.0.0.1 (Dify: its nginx, which routes /console/api to the api)
APPS = {"n8n": 5678, "flowise": 3000, "openwebui": 8080, "dify": 8081, "anythingllm": 3001}
MADE_BY_THE_DEPLOY = ("n8n", "flowise", "openwebui", "dify")  # AnythingLLM's password is its environment
EMAIL = "admin@aiplatform.local"  # aiplatform_admin_email's default
# What an anonymous visitor would send to become the first administrator, and the refusals that may answer it.
ANONYMOUS_SETUP = {
    "n8n": ("/rest/owner/setup", {"email": "x@evil.example", "firstName": "X", "lastName": "Y",
                                  "password": "Evil1234Xy"}, (400,)),
    "flowise": ("/api/v1/account/register", {"user": {"name": "x", "email": "x@evil.example",
                                                      "credential": "Evil-1234xy"}}, (400,)),
    "openwebui": ("/api/v1/auths/signup", {"name": "x", "email": "x@evil.example", "password": "Evil-1234xy"}, (403,)),
    "dify": ("/console/api/setup", {"email": "x@evil.example", "name": "x", "password": "Evil1234xy"}, (401, 403)),
    "anythingllm": ("/api/request-token", {"password": "Evil-1234xy"}, (401,)),
}


@pytest.fixture(scope="module")
def deployed(shared_platform):
    return shared_platform.get()


def call(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"{}")
        except ValueError:
            return exc.code, raw.decode("utf-8", "replace")


def logs_in(app, password):
    """The application's own login (first_admin's protocol for it), at its published port."""
    spec = {"kind": app, "email": EMAIL, "password": password}
    login = first_admin.PROTOCOLS[app][2]
    return login(first_admin.Http(f"http://127.0.0.1:{APPS[app]}"), spec)


def test_the_deploy_made_every_first_administrator_and_printed_no_password(deployed):
    p, run = deployed
    made = {e["service"] for e in run.events if e.get("admin") == "created"}
    assert made == set(MADE_BY_THE_DEPLOY), made
    passwords = [stored_secrets(p, app)["admin_password"] for app in APPS] + [stored_secrets(p, "dify")["init_password"]]
    text = run.stdout + run.stderr + "\n".join(run.log_lines) + json.dumps(run.events)
    assert not [pw for pw in passwords if pw in text]
    for e in run.events:
        if e.get("admin") == "created":
            assert f"admin_password in {p.base_dir}/secrets/{e['service']}.json" in e["message"]


def test_no_setup_is_left_open_to_the_first_visitor(deployed):
    status, doc = call(APPS["n8n"], "GET", "/rest/settings")
    assert status == 200 and doc["data"]["userManagement"]["showSetupOnFirstLoad"] is False
    assert call(APPS["flowise"], "POST", "/api/v1/auth/resolve", {}) == (200, {"redirectUrl": "/signin"})
    assert "onboarding" not in call(APPS["openwebui"], "GET", "/api/config")[1]
    assert call(APPS["dify"], "GET", "/console/api/setup")[1]["step"] == "finished"
    assert call(APPS["anythingllm"], "GET", "/api/setup-complete")[1]["results"]["RequiresAuth"] is True
    for app, (path, body, refusals) in ANONYMOUS_SETUP.items():
        status, doc = call(APPS[app], "POST", path, body)
        assert status in refusals, (app, status, doc)
    # the real n8n and Flowise say why
    assert "already setup" in call(APPS["n8n"], "POST", *ANONYMOUS_SETUP["n8n"][:2])[1]["message"]
    assert "only have one organization" in call(APPS["flowise"], "POST", *ANONYMOUS_SETUP["flowise"][:2])[1]["message"]


def test_the_stored_credentials_log_in_and_others_do_not(deployed):
    p, dummy = deployed
    for app in APPS:
        assert logs_in(app, stored_secrets(p, app)["admin_password"]), app
    assert not logs_in("flowise", "Wrong-password-1")


def test_a_rerun_changes_nothing(deployed):
    p, dummy = deployed
    before = {app: stored_secrets(p, app) for app in APPS}
    run = p.deploy()
    assert run.rc == 0 and run.recap()["changed"] == 0, run.stdout[-3000:]
    assert not [e for e in run.events if e.get("admin")]
    assert {app: stored_secrets(p, app) for app in APPS} == before


def test_teardown_purge_and_restore_keep_the_credentials(deployed, shared_platform):
    p, dummy = deployed
    cycled = shared_platform.cycle()  # the shared platform's one backup, teardown, purge and restore
    before = {app: json.loads(cycled.secrets[f"{app}.json"])["admin_password"] for app in APPS}
    assert {app: stored_secrets(p, app)["admin_password"] for app in APPS} == before
    # the real n8n and Flowise kept their owner in PostgreSQL, Open WebUI's stand-in on its volume: verified, not
    # made again (Dify's stand-in keeps its owner in memory only: it may be made again, with the same credentials)
    remade = {e["service"] for e in cycled.up.events if e.get("admin") == "created"}
    assert remade <= {"dify"}, remade
    for app in APPS:
        assert logs_in(app, before[app]), app
