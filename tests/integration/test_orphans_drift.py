"""Orphans and drift on the real engine (lab inventory).

Services used: redis (the orphan, and the drifted container) and ollama (the lab stand-in, no models: the service
that stays enabled). About 5 playbook runs per test, each bounded by Platform.deploy's 900 s limit.

- orphans: redis taken out of aiplatform_services after a deploy -> status.yml shows it ORPHANED with its port and
  volume, site.yml warns (WARN ORPHANED), teardown.yml with aiplatform_remove_orphans removes its container and keeps
  its volume (aiplatform_orphans_only: ollama keeps running); both sent as text, as AWX surveys send them.
- drift: redis recreated by hand (docker run with the same compose labels) with another image tag, an extra env var,
  an extra published port and another restart policy -> status.yml shows DRIFT naming each, site.yml --check --diff
  shows it and changes nothing, site.yml puts it back, and a second run reports changed=0.
"""
import json
import os

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from .conftest import ROOT, docker

PORT = 16379  # redis published, so that an orphan holds a port
BASE = {"redis_published_port": PORT, "ollama_models": [], "aiplatform_dependencies": {"redis": [], "ollama": []}}
BOTH = dict(BASE, aiplatform_services=["redis", "ollama"])
OLLAMA_ONLY = dict(BASE, aiplatform_services=["ollama"])
REDIS_ONLY = dict(BASE, aiplatform_services=["redis"])


def inspect(name):
    out = docker("inspect", name, check=False)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


def table_lines(run):
    """The status table as printed by the debug task (one JSON string per line)."""
    return [line.strip().strip('",').strip() for line in run.stdout.splitlines() if line.strip().startswith('"')]


def keep_table(name, run):
    """The status table as printed (indents kept), in tests/output for the record (the notes quote it)."""
    out = os.path.join(ROOT, "tests", "output")
    os.makedirs(out, exist_ok=True)
    lines = [line.strip().strip('",') for line in run.stdout.splitlines() if line.strip().startswith('"')]
    with open(os.path.join(out, f"status-{name}.txt"), "w") as fh:
        fh.write("\n".join(line for line in lines if not line.startswith("msg")) + "\n")


def test_a_service_taken_out_of_the_inventory_is_orphaned_warned_about_and_removed_on_request(platform):
    first = platform.deploy(BOTH)
    assert first.rc == 0, first.stdout[-3000:]
    assert not first.of(ev.ORPHANED)

    status = platform.deploy(OLLAMA_ONLY, playbook="playbooks/status.yml")
    assert status.rc == 0, status.stdout[-3000:]
    lines = table_lines(status)
    keep_table("orphan", status)
    row = next(line for line in lines if line.startswith("redis "))
    assert " ORPHANED " in row
    assert f"- port 127.0.0.1:{PORT}->6379/tcp" in lines and "- volume aiplatform_redis_data" in lines
    assert status.of(ev.ORPHANED, "redis")

    site = platform.deploy(OLLAMA_ONLY)
    assert site.rc == 0, site.stdout[-3000:]
    warning = site.of(ev.ORPHANED, "redis")
    assert warning and warning[0]["level"] == "WARN"
    assert f"127.0.0.1:{PORT}->6379/tcp" in warning[0]["message"] and "aiplatform_redis_data" in warning[0]["message"]
    assert any("[WARN] [redis] not enabled on this host" in line for line in site.log_lines)
    assert inspect("aiplatform-redis")["State"]["Running"]  # a warning, nothing removed

    # without the option teardown leaves the orphan exactly as it was; the options as an AWX survey sends them, text
    # (bool("false") is True: "false" once removed the orphan)
    redis_id = inspect("aiplatform-redis")["Id"]
    plain = platform.deploy(OLLAMA_ONLY, {"aiplatform_remove_orphans": "false", "aiplatform_orphans_only": "false"},
                            playbook="playbooks/teardown.yml")
    assert plain.rc == 0, plain.stdout[-3000:]
    assert inspect("aiplatform-ollama") is None and inspect("aiplatform-redis")["Id"] == redis_id

    # with it (and orphans only), the orphan's container goes, its volume stays, the enabled service runs on
    assert platform.deploy(OLLAMA_ONLY).rc == 0
    removed = platform.deploy(OLLAMA_ONLY, {"aiplatform_remove_orphans": "true", "aiplatform_orphans_only": "true"},
                              playbook="playbooks/teardown.yml")
    assert removed.rc == 0, removed.stdout[-3000:]
    assert inspect("aiplatform-redis") is None
    assert docker("volume", "inspect", "aiplatform_redis_data", check=False).returncode == 0
    assert inspect("aiplatform-ollama")["State"]["Running"]
    assert removed.of(ev.SERVICE_REMOVED, "redis")


EXTRA = "aiplatform_drift_extra"  # a volume and a network the container gets by hand


def recreate_by_hand(name, image, extra_env, extra_port, restart):
    """Replace a container with one made by `docker run`: same compose labels (so compose and the hash label see
    nothing), with the given changes."""
    doc = inspect(name)
    config = doc["Config"]
    network = sorted(doc["NetworkSettings"]["Networks"])[0]  # its own project network: redis alone has no link
    argv = ["run", "-d", "--name", name, "--network", network, "--network-alias", "redis", "--restart", restart]
    for key, value in config["Labels"].items():
        # our hash label forged; compose's own left as it is, so compose alone would see nothing to do
        argv += ["--label", f"{key}={'handmade' if key == 'aiplatform.stack.config-hash' else value}"]
    argv += ["-v", f"{EXTRA}:/extra"]
    for item in config["Env"] + [extra_env]:
        argv += ["-e", item]
    for m in doc["Mounts"]:
        argv += ["-v", f"{m['Name'] if m['Type'] == 'volume' else m['Source']}:{m['Destination']}"
                 + ("" if m.get("RW", True) else ":ro")]
    for target, bindings in doc["HostConfig"]["PortBindings"].items():
        for b in bindings:
            argv += ["-p", f"{b['HostIp']}:{b['HostPort']}:{target}"]
    argv += ["-p", extra_port]
    entrypoint = config["Entrypoint"]
    argv += ["--entrypoint", entrypoint[0], image, *entrypoint[1:]]
    docker("rm", "-f", name)
    docker(*argv)
    docker("network", "create", EXTRA, check=False)  # left by an earlier run that failed midway
    docker("network", "connect", EXTRA, name)


@pytest.fixture()
def drifted(platform):
    run = platform.deploy(REDIS_ONLY)
    assert run.rc == 0, run.stdout[-3000:]
    docker("tag", "aiplatform-lab/redis:current", "aiplatform-lab/redis:drift")
    recreate_by_hand("aiplatform-redis", "aiplatform-lab/redis:drift", "DEBUG=1", "127.0.0.1:16380:6379", "always")
    yield
    docker("rmi", "aiplatform-lab/redis:drift", check=False)
    docker("network", "rm", EXTRA, check=False)
    docker("volume", "rm", EXTRA, check=False)


def test_drift_is_shown_then_put_back(platform, drifted):
    status = platform.deploy(REDIS_ONLY, playbook="playbooks/status.yml")
    assert status.rc == 0, status.stdout[-3000:]
    lines = table_lines(status)
    keep_table("drift", status)
    assert " DRIFT " in next(line for line in lines if line.startswith("redis "))
    for want in ("- aiplatform-redis: image aiplatform-lab/redis:drift (want aiplatform-lab/redis:current)",
                 "- aiplatform-redis: env DEBUG added",
                 "- aiplatform-redis: port 127.0.0.1:16380->6379/tcp added",
                 "- aiplatform-redis: restart always (want unless-stopped)",
                 f"- aiplatform-redis: mount volume {EXTRA}:/extra added",
                 f"- aiplatform-redis: network {EXTRA} added"):
        assert want in lines, (want, lines)
    assert any(line.startswith("- aiplatform-redis: config hash handmade (want ") for line in lines), lines
    assert status.of(ev.SERVICE_STATUS, "redis")[0]["state"] == "DRIFT"
    secret = json.load(open(f"{platform.base_dir}/secrets/redis.json"))["password"]
    assert secret not in status.stdout + "\n".join(status.log_lines)

    before = inspect("aiplatform-redis")["Id"]
    check = platform.deploy(REDIS_ONLY, "--check", "--diff")
    assert check.rc == 0, check.stdout[-3000:]
    assert "redis (running containers)" in check.stdout and "aiplatform-lab/redis:drift" in check.stdout
    assert "check mode: nothing changed" in check.of(ev.DRIFT, "redis")[0]["message"]
    assert inspect("aiplatform-redis")["Id"] == before  # nothing recreated
    assert secret not in check.stdout

    fix = platform.deploy(REDIS_ONLY)
    assert fix.rc == 0, fix.stdout[-3000:]
    done = [e for e in fix.of(ev.DEPLOY_SUCCESS, "redis") if e.get("changed")]
    assert done and "up --force-recreate redis" in done[0]["message"] and "put back drift: image" in done[0]["message"]
    now = inspect("aiplatform-redis")
    assert now["Config"]["Image"] == "aiplatform-lab/redis:current"
    assert now["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert list(now["HostConfig"]["PortBindings"]) == ["6379/tcp"]
    assert not [e for e in now["Config"]["Env"] if e.startswith("DEBUG=")]
    assert list(now["NetworkSettings"]["Networks"]) == ["aiplatform-redis_default"]  # redis alone: no link
    assert not [m for m in now["Mounts"] if m["Destination"] == "/extra"]
    assert now["Config"]["Labels"]["aiplatform.stack.config-hash"] != "handmade"
    assert fix.of(ev.HEALTH_SUCCESS, "redis")

    again = platform.deploy(REDIS_ONLY)
    assert again.rc == 0 and again.recap()["changed"] == 0 and not again.of(ev.DRIFT)
