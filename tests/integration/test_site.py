"""site.yml end to end: PostgreSQL, Redis and real LiteLLM, in dependency order, healthy, logged, idempotent."""
import json
import os
import urllib.error
import urllib.request

import pytest
import yaml

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from .conftest import docker

SERVICES = ["postgres", "redis", "litellm"]


@pytest.fixture(scope="module")
def runs(platform):
    first = platform.deploy()
    assert first.rc == 0, first.stdout[-4000:] + first.stderr[-2000:]
    started = {s: docker("inspect", "-f", "{{.State.StartedAt}}", f"aiplatform-{s}").stdout for s in SERVICES}
    second = platform.deploy()
    assert second.rc == 0, second.stdout[-4000:]
    return first, second, started


def test_all_three_healthy(runs):
    first, dummy, dummy2 = runs
    for service in SERVICES:
        assert first.of(ev.HEALTH_SUCCESS, service), service
        assert docker("inspect", "-f", "{{.State.Status}}", f"aiplatform-{service}").stdout.strip() == "running"
    assert not [e for e in first.events if e["level"] == "ERROR"]


def test_dependency_order_from_the_events(runs):
    first, dummy, dummy2 = runs
    healthy = {e["service"]: e["time"] for e in first.of(ev.HEALTH_SUCCESS)}
    start = {e["service"]: e["time"] for e in first.of(ev.DEPLOY_START)}
    assert start["postgres"] >= healthy["redis"]
    assert start["litellm"] >= healthy["postgres"] and start["litellm"] >= healthy["redis"]


def test_second_run_changes_and_restarts_nothing(runs):
    dummy, second, started = runs
    assert second.recap()["changed"] == 0
    for service in SERVICES:
        assert docker("inspect", "-f", "{{.State.StartedAt}}", f"aiplatform-{service}").stdout == started[service]
    assert all(e.get("changed") is False for e in second.of(ev.DEPLOY_SUCCESS))


def test_every_log_line_has_the_format_and_each_event_is_written_once(runs):
    for run in runs[:2]:
        assert run.log_lines and all(ev.LINE_RE.match(line) for line in run.log_lines)
        console = [line for line in run.stdout.splitlines() if ev.LINE_RE.match(line)]
        assert console == run.log_lines  # once on the console, once in the file, same order
        assert len(run.events) == len(run.log_lines) == len({e["id"] for e in run.events})


def test_no_secret_in_console_log_or_events(platform, runs):
    secrets = platform.secrets()
    assert len(secrets) >= 5
    for run in runs[:2]:
        text = run.stdout + run.stderr + "\n".join(run.log_lines) + json.dumps(run.events)
        leaked = [s[:4] + "…" for s in secrets if s in text]
        assert not leaked


def test_secrets_are_private_and_reused(platform, runs):
    sdir = os.path.join(platform.base_dir, "secrets")
    for name in os.listdir(sdir):
        assert os.stat(os.path.join(sdir, name)).st_mode & 0o777 == 0o600
    for service in SERVICES:
        env = [f for f in os.listdir(os.path.join(platform.base_dir, service)) if f.endswith(".env")]
        assert env and all(os.stat(os.path.join(platform.base_dir, service, f)).st_mode & 0o777 == 0o600 for f in env)


def test_litellm_has_one_source_of_truth(platform, runs):
    config = open(os.path.join(platform.base_dir, "litellm", "config.yaml")).read()
    for secret in platform.secrets():
        assert secret not in config
    doc = yaml.safe_load(config)
    assert doc["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    assert "environment_variables" not in doc
    assert doc["litellm_settings"]["cache_params"]["password"] == "os.environ/REDIS_PASSWORD"
    compose = open(os.path.join(platform.base_dir, "litellm", "compose.yml")).read()
    assert "LITELLM_MODE: PRODUCTION" in compose and "MASTER_KEY" not in compose.replace("os.environ", "")


def _get(url, key=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_litellm_uses_the_generated_master_key(platform, runs):
    key = json.load(open(os.path.join(platform.base_dir, "secrets", "litellm.json")))["master_key"]
    assert _get("http://127.0.0.1:4000/health/liveliness")[0] == 200
    status, body = _get("http://127.0.0.1:4000/v1/models", key)
    assert status == 200 and "llama3.2" in body
    assert _get("http://127.0.0.1:4000/v1/models", "sk-wrong-key")[0] in (400, 401, 403)


def test_redis_requires_its_password_and_postgres_is_not_published(runs):
    out = docker("exec", "aiplatform-redis", "redis-cli", "ping", check=False)
    assert "NOAUTH" in out.stdout + out.stderr
    ports = docker("inspect", "-f", "{{json .HostConfig.PortBindings}}", "aiplatform-postgres").stdout
    assert ports.strip() in ("{}", "null")
    litellm_ports = json.loads(docker("inspect", "-f", "{{json .HostConfig.PortBindings}}", "aiplatform-litellm").stdout)
    assert litellm_ports["4000/tcp"][0]["HostIp"] == "127.0.0.1"


def test_redis_password_not_in_process_arguments(platform, runs):
    password = json.load(open(os.path.join(platform.base_dir, "secrets", "redis.json")))["password"]
    pids = [line.split()[0] for line in docker("top", "aiplatform-redis", "-eo", "pid,args").stdout.splitlines()[1:]]
    cmdlines = [open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode() for pid in pids]
    assert any("redis-server" in c for c in cmdlines)
    assert not [c for c in cmdlines if password in c]
