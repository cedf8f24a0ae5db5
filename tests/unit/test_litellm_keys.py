"""LiteLLM virtual keys: the key logic against the lab stand-in's model of LiteLLM's key API (on 127.0.0.1), the host
step, the scheduler's handling (LiteLLM healthy only once the keys are registered), the catalog's choice of key per
application, and the LiteLLM role's data in both modes."""
from __future__ import annotations

import importlib.util
import json
import os
import random
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.aiplatform.stack.plugins.module_utils import deploy_step, first_admin, litellm_keys
from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog as cat
from ansible_collections.aiplatform.stack.plugins.plugin_utils import needs, service_roles
from ansible_collections.aiplatform.stack.plugins.plugin_utils.scheduler import Scheduler

from .test_scheduler import SEED, Clock, FakeHost, service

STANDIN = os.path.join(os.path.dirname(__file__), "..", "..", "lab", "images", "standin", "standin.py")
MASTER = "sk-master" + "m" * 32
KEYS = {"openwebui": "sk-" + "o" * 40, "anythingllm": "sk-" + "a" * 40}


@pytest.fixture(scope="module")
def standin():
    spec = importlib.util.spec_from_file_location("standin_litellm_keys", STANDIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = ThreadingHTTPServer(("127.0.0.1", 0), module.Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield module, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def litellm(standin, monkeypatch):
    """The stand-in as LiteLLM in database mode, with an empty key store."""
    module, base = standin
    monkeypatch.setenv("STANDIN_LITELLM_KEYS", "1")
    monkeypatch.setenv("LITELLM_MASTER_KEY", MASTER)
    monkeypatch.setenv("STANDIN_LITELLM_MODELS", "llama3.2,other")
    module.LITELLM_KEYS.clear()
    module.LITELLM_DELETED.clear()
    return module, base


def spec(models=("llama3.2",), master=MASTER) -> dict:
    return {"service": "litellm", "port": 4000, "master_key": master, "secrets_file": "/opt/aiplatform/secrets/litellm.json",
            "applications": [{"alias": app, "key": key, "models": list(models)} for app, key in KEYS.items()]}


def ensure(base: str, check_mode: bool = False, **kw) -> dict:
    return litellm_keys.ensure(spec(**kw), base, check_mode, wait=1)


def models_for(base: str, key: str) -> tuple[int, list]:
    req = urllib.request.Request(base + "/v1/models", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, [m["id"] for m in json.load(resp)["data"]]
    except urllib.error.HTTPError as exc:
        return exc.code, []


def test_keys_are_registered_once_then_verified_and_each_works_for_its_models_only(litellm):
    module, base = litellm
    first = ensure(base)
    assert first == {"ok": True, "changed": True, "actions": {"openwebui": "registered", "anythingllm": "registered"}}
    again = ensure(base)
    assert again == {"ok": True, "changed": False, "actions": {"openwebui": "verified", "anythingllm": "verified"}}
    rows = {r["key_alias"]: r for r in module.LITELLM_KEYS.values()}
    assert set(rows) == {"openwebui", "anythingllm"}
    assert all(r["metadata"] == {"managed_by": "aiplatform.stack"} for r in rows.values())
    assert models_for(base, KEYS["openwebui"]) == (200, ["llama3.2"])
    assert models_for(base, MASTER) == (200, ["llama3.2", "other"])
    assert models_for(base, "sk-unknown" + "x" * 20)[0] == 401
    assert all(key not in json.dumps(first) for key in [*KEYS.values(), MASTER])


def test_keys_litellm_forgot_or_deleted_are_registered_again_with_the_same_value(litellm):
    module, base = litellm
    ensure(base)
    module.LITELLM_KEYS.clear()  # a restart of the stand-in, or LiteLLM's database reset
    assert ensure(base)["actions"] == {"openwebui": "registered", "anythingllm": "registered"}
    token = litellm_keys.key_hash(KEYS["openwebui"])
    module.LITELLM_DELETED[token] = module.LITELLM_KEYS.pop(token)  # deleted in LiteLLM's UI: /key/info says "deleted"
    assert ensure(base)["actions"] == {"openwebui": "registered", "anythingllm": "verified"}
    assert models_for(base, KEYS["openwebui"])[0] == 200


def test_a_rotated_key_replaces_the_one_under_its_alias_and_the_old_one_stops_working(litellm, monkeypatch):
    dummy, base = litellm
    ensure(base)
    old = KEYS["openwebui"]
    monkeypatch.setitem(KEYS, "openwebui", "sk-" + "n" * 40)  # key_openwebui deleted from litellm.json, regenerated
    assert ensure(base)["actions"] == {"openwebui": "replaced", "anythingllm": "verified"}
    assert models_for(base, old)[0] == 401
    assert models_for(base, KEYS["openwebui"])[0] == 200


def test_a_changed_model_list_updates_the_keys(litellm):
    dummy, base = litellm
    ensure(base)
    got = ensure(base, models=("llama3.2", "other"))
    assert got["changed"] and set(got["actions"].values()) == {"updated"}
    assert models_for(base, KEYS["anythingllm"]) == (200, ["llama3.2", "other"])


def test_check_mode_registers_nothing(litellm):
    module, base = litellm
    got = ensure(base, check_mode=True)
    assert got == {"ok": True, "changed": True, "actions": {"openwebui": "would_register", "anythingllm": "would_register"}}
    assert module.LITELLM_KEYS == {}


def test_a_refused_master_key_is_a_config_error_naming_the_fix_and_no_key(litellm):
    dummy, base = litellm
    got = ensure(base, master="sk-not-the-master-key-0000")
    assert not got["ok"] and got["category"] == "config"
    assert "refuses its master key" in got["cause"] and "litellm_extra_env" in got["advice"]
    assert all(key not in json.dumps(got) for key in KEYS.values())


def test_a_blocked_key_is_left_blocked_and_reported(litellm):
    module, base = litellm
    ensure(base)
    module.LITELLM_KEYS[litellm_keys.key_hash(KEYS["openwebui"])]["blocked"] = True
    got = ensure(base)
    assert not got["ok"] and "openwebui is blocked" in got["cause"] and "unblock" in got["advice"]


def test_litellm_not_answering_is_tried_again_until_the_wait_ends():
    clock = Clock()
    calls = []

    def opener(url, **kw):
        calls.append(url)
        raise urllib.error.URLError("connection refused")

    got = litellm_keys.ensure(spec(), "http://10.0.0.9:4000", wait=5, opener=opener, clock=clock, sleep=clock.sleep)
    assert got["category"] == "timeout" and "virtual keys: no answer within 5 s" in got["cause"]
    assert len(calls) > 2 and all("/key/info?key=" in u and KEYS["openwebui"] not in u for u in calls)


def test_an_unknown_answer_is_reported_not_guessed():
    got = litellm_keys.ensure_once(spec(), lambda method, path, body=None, headers=None: (200, {"no": "info"}))
    assert got["category"] == "unknown" and "GET /key/info: HTTP 200" in got["cause"]


def test_the_first_admin_wait_shares_the_retry():
    clock = Clock()
    tries = []

    def attempt():
        tries.append(clock())
        if len(tries) < 3:
            raise first_admin.UnreachableError("HTTP 503")
        return {"ok": True}

    assert first_admin.retry_unreachable(attempt, "x", 10, clock, clock.sleep) == {"ok": True}
    assert tries == [0.0, 0.5, 1.5]


# -- the host step ---------------------------------------------------------------------------------------------
def test_the_host_step_registers_keys_at_litellms_container_address(monkeypatch):
    seen = []
    monkeypatch.setattr(deploy_step.litellm_keys, "ensure",
                        lambda spec, base, check_mode, wait: seen.append(base) or {"ok": True, "actions": {}})
    probe = {"containers": [{"service": "litellm", "address": "10.0.0.4"}]}
    assert deploy_step.register_keys(dict(spec(), target="litellm"), probe, False)["ok"]
    assert seen == ["http://10.0.0.4:4000"]
    got = deploy_step.register_keys(spec(), {"containers": []}, False)
    assert not got["ok"] and "virtual keys: container litellm has no network address" in got["cause"]


def test_a_run_is_not_settled_while_keys_failed():
    out = {"check": {}, "probe": {}, "wiring": {}, "models": {}, "remote": {},
           "virtual_keys": {"litellm": {"ok": False, "category": "config"}}}
    assert not deploy_step.settled({"check": []}, out)
    out["virtual_keys"]["litellm"] = {"ok": True, "actions": {"openwebui": "verified"}}
    assert deploy_step.settled({"check": []}, out)


# -- the scheduler ---------------------------------------------------------------------------------------------
class KeyHost(FakeHost):
    """FakeHost that registers LiteLLM's keys when it answers: `keys` in its spec is the outcome."""

    def step(self, request: dict) -> dict:
        out = super().step(request)
        out["virtual_keys"] = {k["service"]: self.specs[k["service"]].get(
            "keys", {"ok": True, "changed": True, "actions": {"openwebui": "registered", "anythingllm": "registered"}})
            for k in request.get("virtual_keys") or [] if out["probe"].get(k["service"], {}).get("verdict") == "ready"}
        if out["virtual_keys"]:
            self.keys_in_step = len(self.requests) - 1
        return out


def run_with_keys(specs: dict):
    clock = Clock()
    host = KeyHost(clock, specs)
    events: list[dict] = []
    local = [service(n, list(SEED[n])) for n in SEED if n in specs]
    for s in local:
        if s.name == "litellm":
            s.virtual_keys = {"target": "litellm", "port": 4000, "master_key": MASTER,
                              "applications": [{"alias": a, "key": k, "models": []} for a, k in KEYS.items()]}
    sched = Scheduler(local, host.step, events.append, clock=clock, rng=random.Random(1))
    return sched.run(), events, host


def test_litellm_is_healthy_once_the_keys_are_registered_and_its_consumers_start_after():
    specs = {n: {"ready_after": 1.0} for n in ("postgres", "redis", "litellm", "openwebui", "anythingllm")}
    summary, events, host = run_with_keys(specs)
    assert summary["failed_services"] == [] and summary["changed"]
    said = [e for e in events if e.get("virtual_keys")]
    assert [e["message"] for e in said] == ["virtual keys: anythingllm registered, openwebui registered"]
    assert all(MASTER not in json.dumps(e) and KEYS["openwebui"] not in json.dumps(e) for e in events)
    asked = [i for i, r in enumerate(host.requests) if r.get("virtual_keys")]
    assert asked and all({k["service"] for k in host.requests[i]["virtual_keys"]} == {"litellm"} for i in asked)
    # the applications are brought up only in a step after the one that registered the keys
    ups = [i for i, r in enumerate(host.requests) for p in r.get("up") or [] if p["service"] == "openwebui"]
    assert ups and ups[0] > host.keys_in_step


def test_keys_litellm_refuses_fail_it_and_skip_its_consumers():
    specs = {n: {"ready_after": 1.0} for n in ("postgres", "redis", "litellm", "openwebui")}
    specs["litellm"]["keys"] = {"ok": False, "category": "config", "cause": "virtual keys: LiteLLM refuses its master key",
                                "advice": "fix it"}
    summary, events, dummy = run_with_keys(specs)
    assert summary["failed_services"] == ["litellm", "openwebui"]
    assert summary["services"]["litellm"]["category"] == "config"
    assert summary["services"]["openwebui"]["state"] == "skipped"


def test_a_rerun_verifies_the_keys_in_the_check_step_and_changes_nothing():
    specs = {n: {"running": True, "keys": {"ok": True, "changed": False, "actions": {"openwebui": "verified"}}}
             for n in ("postgres", "redis", "litellm", "openwebui")}
    summary, events, host = run_with_keys(specs)
    assert summary["failed_services"] == [] and not summary["changed"] and summary["steps"] == 1
    assert [k["service"] for k in host.requests[0]["virtual_keys"]] == ["litellm"]
    assert not [e for e in events if e.get("virtual_keys")]


# -- which key an application gets -----------------------------------------------------------------------------
def catalog_and_hostvars(database: bool) -> tuple[dict, dict, dict]:
    litellm = {"name": "litellm", "host_group": "aiplatform", "virtual_keys": {
        "target": "litellm", "port": 4000, "applications": ["anythingllm", "openwebui"], "models": ["llama3.2"]}
        if database else None}
    secrets = {"litellm": dict({"master_key": MASTER}, **({f"key_{a}": k for a, k in KEYS.items()} if database else {}))}
    return ({"litellm": litellm, "openwebui": {"name": "openwebui", "host_group": "aiplatform"}},
            {"aiplatform": ["h1"]}, {"h1": {"aiplatform_secrets": secrets}})


def test_each_application_gets_its_own_key_in_database_mode_and_the_master_key_config_only():
    catalog, groups, hostvars = catalog_and_hostvars(True)
    assert cat.litellm_key(catalog, "openwebui", groups, hostvars) == KEYS["openwebui"]
    keys = cat.virtual_keys(catalog, "litellm", "/opt/aiplatform/secrets", groups, hostvars)
    assert keys == {"target": "litellm", "port": 4000, "master_key": MASTER, "secrets_file": "/opt/aiplatform/secrets/litellm.json",
                    "applications": [{"alias": "anythingllm", "key": KEYS["anythingllm"], "models": ["llama3.2"]},
                                     {"alias": "openwebui", "key": KEYS["openwebui"], "models": ["llama3.2"]}]}
    catalog, groups, hostvars = catalog_and_hostvars(False)
    assert cat.litellm_key(catalog, "openwebui", groups, hostvars) == MASTER
    assert cat.virtual_keys(catalog, "litellm", "/s", groups, hostvars) is None


def test_a_key_not_loaded_names_the_secret_and_the_host():
    catalog, groups, hostvars = catalog_and_hostvars(True)
    del hostvars["h1"]["aiplatform_secrets"]["litellm"]["key_openwebui"]
    with pytest.raises(cat.ConfigError, match="litellm: no secret 'key_openwebui' loaded on h1"):
        cat.litellm_key(catalog, "openwebui", groups, hostvars)


# -- the LiteLLM role's data -----------------------------------------------------------------------------------
def litellm_data(database: bool, services: list[str]) -> dict:
    loader = DataLoader()
    variables = service_roles.variables(loader, ["litellm"], {
        "aiplatform_services": services, "litellm_database_enabled": database, "aiplatform_hardening_overrides": {}})
    templar = Templar(loader=loader, variables=variables)
    svc = variables["litellm_service"]
    litellm = {k: templar.template(svc[k]) for k in ("secrets", "virtual_keys", "status_warnings")}
    # the consumers as their roles declare them (litellm_key in <role>_service), handed to LiteLLM by the plan
    catalog = {name: {"name": name, "litellm_key": declared(name, "litellm_key")} for name in services}
    catalog["litellm"] = dict(litellm, name="litellm")
    needs.litellm_keys(catalog)
    return catalog["litellm"]


def declared(role: str, field: str):
    path = os.path.join(service_roles.ROLES, role, "vars", "main.yml")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return ((yaml.safe_load(fh) or {}).get(f"{role}_service") or {}).get(field)


def test_the_role_generates_a_key_per_enabled_application_in_database_mode_only():
    data = litellm_data(True, ["postgres", "redis", "litellm", "openwebui", "n8n"])
    assert sorted(data["secrets"]) == ["db_password", "key_openwebui", "master_key", "salt_key"]
    assert data["secrets"]["key_openwebui"] == {"kind": "sk", "length": 40}
    assert data["virtual_keys"] == {"target": "litellm", "port": 4000, "applications": ["openwebui"],
                                    "models": ["llama3.2"]}
    assert data["status_warnings"] == []
    config_only = litellm_data(False, ["litellm", "openwebui", "anythingllm"])
    assert sorted(config_only["secrets"]) == ["db_password", "master_key", "salt_key"]
    assert not config_only["virtual_keys"]  # None, or "" on ansible-core 2.17 (no native None from a template)
    assert len(config_only["status_warnings"]) == 1 and "hold its master key" in config_only["status_warnings"][0]
