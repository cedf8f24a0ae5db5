"""Each application calls LiteLLM with a virtual key of its own, registered by the deploy; the master key stays with
the operator. On the real engine, only 127.0.0.1 addressed.

LiteLLM's database mode cannot run here (its Prisma engine is published only on Prisma's CDN), so LiteLLM is the lab
stand-in in database mode (STANDIN_LITELLM_KEYS: its key API and /v1/models, keys kept in memory, so a restart forgets
them as a reset database would), logging in to the real PostgreSQL and Redis. Open WebUI is the real one
(lab/images/openwebui), AnythingLLM the stand-in that calls LiteLLM with its key to be ready. The status test runs
the lab's real LiteLLM, which is config-only: there the applications hold the master key and status.yml says so.
"""
import hashlib
import json
import os
import shutil
import stat
import tempfile
import urllib.error
import urllib.request

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from .conftest import ROOT, Platform, deployed_platform, docker, stored_secrets, wait_until

APPS = ["openwebui", "anythingllm"]
SERVICES = ["postgres", "redis", "litellm", *APPS]
ENV_FILES = {"openwebui": ("openwebui.env", "OPENAI_API_KEY"), "anythingllm": ("anythingllm.env", "LITE_LLM_API_KEY")}
DATABASE_MODE = {
    "litellm_image": "aiplatform-lab/standin:current",
    "litellm_database_enabled": True,
    "litellm_extra_env": {"STANDIN_SERVICE": "litellm", "STANDIN_PORT": "4000", "STANDIN_READY_PATHS": "/health/readiness",
                          "STANDIN_LIVE_PATHS": "/health/liveliness", "STANDIN_PG_URL_ENV": "DATABASE_URL",
                          "STANDIN_REDIS_ENV_PREFIX": "REDIS_", "STANDIN_READY_BODY": '{"status":"healthy","db":"{db}"}',
                          "STANDIN_LITELLM_KEYS": "1", "STANDIN_LITELLM_MODELS": "llama3.2"},
}


@pytest.fixture(scope="module")
def keyed(lab):
    yield from deployed_platform(DATABASE_MODE, services=SERVICES)


def env_value(p, app):
    name, var = ENV_FILES[app]
    path = os.path.join(p.base_dir, app, name)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    for line in open(path).read().splitlines():
        if line.startswith(f"{var}="):
            return line.split("=", 1)[1].strip("'\"")
    raise AssertionError(f"{var} not in {path}")


def call(url, key=None, body=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except (urllib.error.URLError, OSError):
        return 0, {}  # not answering (yet)


def key_info(p, key):
    master = stored_secrets(p, "litellm")["master_key"]
    return call(f"http://127.0.0.1:4000/key/info?key={hashlib.sha256(key.encode()).hexdigest()}", master)


def test_each_application_holds_its_own_registered_key_and_never_the_master_key(keyed):
    p, run = keyed
    stored = stored_secrets(p, "litellm")
    for app in APPS:
        key = env_value(p, app)
        assert key == stored[f"key_{app}"] and key != stored["master_key"]
        status, doc = key_info(p, key)
        assert status == 200 and doc["info"]["key_alias"] == app and doc["info"]["status"] == "active"
        assert call("http://127.0.0.1:4000/v1/models", key)[0] == 200
    assert call("http://127.0.0.1:4000/v1/models", "sk-not-a-key-000000000000")[0] == 401
    said = [e["message"] for e in run.of(ev.DEPLOY_SUCCESS, "litellm") if e.get("virtual_keys")]
    assert said == ["virtual keys: anythingllm registered, openwebui registered"]
    # LiteLLM counted healthy only after that, and the applications started after it
    order = [(e["type"], e["service"]) for e in run.events]
    assert order.index((ev.HEALTH_SUCCESS, "litellm")) < order.index((ev.DEPLOY_START, "openwebui"))


def test_the_master_key_is_in_no_application_file_and_in_no_log(keyed):
    p, run = keyed
    master = stored_secrets(p, "litellm")["master_key"]
    for app in APPS:
        for root, dummy, files in os.walk(os.path.join(p.base_dir, app)):
            for name in files:
                assert master not in open(os.path.join(root, name), errors="replace").read(), (app, name)
        container = f"aiplatform-{app}"
        assert master not in docker("inspect", container).stdout
    for key in [master, *(stored_secrets(p, "litellm")[f"key_{a}"] for a in APPS)]:
        assert key not in run.stdout and key not in "\n".join(run.log_lines)


def test_the_real_open_webui_lists_litellms_models_with_its_key(keyed):
    p, dummy = keyed
    admin = stored_secrets(p, "openwebui")["admin_password"]
    status, signin = call("http://127.0.0.1:8080/api/v1/auths/signin",
                          body={"email": "admin@aiplatform.local", "password": admin})
    assert status == 200, signin
    status, models = call("http://127.0.0.1:8080/api/models", signin["token"])
    assert status == 200 and "llama3.2" in [m["id"] for m in models["data"]], models


def test_a_rerun_changes_nothing(keyed):
    p, dummy = keyed
    run = p.deploy(DATABASE_MODE)
    assert run.rc == 0 and run.recap()["changed"] == 0, run.stdout[-3000:]
    assert not [e for e in run.events if e.get("virtual_keys")]


def test_keys_litellm_forgot_are_registered_again_with_the_same_value(keyed):
    p, dummy = keyed
    key = env_value(p, "openwebui")
    docker("restart", "aiplatform-litellm")  # the stand-in keeps keys in memory: now it knows none
    wait_until(lambda: key_info(p, key)[0] == 404, 30, "the restarted LiteLLM stand-in answers, without the key")
    run = p.deploy(DATABASE_MODE)
    assert run.rc == 0, run.stdout[-3000:]
    said = [e["message"] for e in run.of(ev.DEPLOY_SUCCESS, "litellm") if e.get("virtual_keys")]
    assert said == ["virtual keys: anythingllm registered, openwebui registered"]
    assert env_value(p, "openwebui") == key and key_info(p, key)[0] == 200
    # the applications' files did not change: nothing else was restarted
    assert not [e for e in run.of(ev.DEPLOY_SUCCESS) if e["service"] in APPS and e.get("changed")]


def collection_with_a_tenth_role(dest):
    """This checkout's collection with the tenth service's fixture role (tests/unit/fixtures/roles/wiki) put in its
    roles/: nothing else differs, so whatever serves the wiki comes from its own role."""
    left_out = {".git", ".venv", ".collections", "logs", "tests", "lab", "molecule"}  # not what a playbook runs
    shutil.copytree(ROOT, dest, symlinks=True, ignore=lambda folder, names: [
        n for n in names if folder == ROOT and (n in left_out or n.endswith(".tar.gz"))])
    shutil.copytree(os.path.join(ROOT, "tests", "unit", "fixtures", "roles", "wiki"), os.path.join(dest, "roles", "wiki"))
    os.makedirs(os.path.join(dest, ".collections", "ansible_collections", "aiplatform"))
    os.symlink("../../..", os.path.join(dest, ".collections", "ansible_collections", "aiplatform", "stack"))
    return dest


def test_a_tenth_service_gets_its_database_redis_user_key_and_first_admin_from_its_own_role_alone(keyed, tmp_path):
    p, dummy = keyed
    copy = collection_with_a_tenth_role(str(tmp_path / "collection"))
    wiki = Platform(p.base_dir, services=SERVICES + ["wiki"], defaults=(DATABASE_MODE,), root=copy)
    run = wiki.deploy()
    assert run.rc == 0, run.stdout[-5000:]
    # the stand-in answers its probe only once PostgreSQL and Redis took the logins its role was given and LiteLLM
    # its key (tests/unit/fixtures/roles/wiki/templates/compose.yml.j2)
    assert run.of(ev.HEALTH_SUCCESS, "wiki"), run.stdout[-5000:]
    key = stored_secrets(p, "litellm")["key_wiki"]
    status, doc = key_info(p, key)
    assert status == 200 and doc["info"]["key_alias"] == "wiki"
    acl = open(os.path.join(p.base_dir, "redis", "users.acl")).read().splitlines()
    own_rules = " ~wiki:* &wiki:* +@all -@admin -@dangerous +info"  # the role's own rules
    assert [line for line in acl if line.startswith("user wiki ") and line.endswith(own_rules)], acl
    databases = docker("exec", "aiplatform-postgres", "sh", "-c", 'psql -U "$POSTGRES_USER" -d postgres -Atc '
                       '"SELECT datname FROM pg_database WHERE datname = \'wiki\'"').stdout.split()
    assert databases == ["wiki"]
    assert {e["service"] for e in run.events if e.get("admin") == "created"} == {"wiki"}
    again = wiki.deploy()
    assert again.rc == 0 and again.recap()["changed"] == 0, again.stdout[-3000:]


def test_config_only_litellm_is_reported_by_status_and_its_applications_hold_the_master_key(lab):
    p = Platform(tempfile.mkdtemp(prefix="aiplatform-base-"), services=["postgres", "redis", "litellm", "anythingllm"])
    p.teardown()
    try:
        run = p.deploy()  # the lab's real LiteLLM: config-only
        assert run.rc == 0, run.stdout[-5000:]
        assert env_value(p, "anythingllm") == stored_secrets(p, "litellm")["master_key"]
        assert not [k for k in stored_secrets(p, "litellm") if k.startswith("key_")]
        status = p.deploy(playbook="playbooks/status.yml")
        assert status.rc == 0
        warned = status.of(ev.SECURITY_WARNING, "litellm")
        assert len(warned) == 1 and warned[0]["level"] == "WARN" and "hold its master key" in warned[0]["message"]
        assert any("[WARN] [litellm] runs config-only" in line for line in status.log_lines)
    finally:
        p.teardown()
