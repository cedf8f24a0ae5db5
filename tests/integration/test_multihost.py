"""Three hosts, each with its own Docker engine (lab/multihost.py): data (postgres, redis), model (ollama, litellm),
apps (dify, n8n, flowise, anythingllm, openwebui). site.yml deploys across them in dependency order over SSH, and a
service on one host uses its dependency on another through that host's address and published port.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from ..dependency_map import default_dependencies
from .conftest import ROOT, SERVICES, Run, wait_until

LAB = os.path.join(ROOT, "lab")
sys.path.insert(0, LAB)
import multihost  # noqa: E402

PLACEMENT = {"postgres": "data1", "redis": "data1", "ollama": "model1", "litellm": "model1", "dify": "app1",
             "n8n": "app1", "flowise": "app1", "anythingllm": "app1", "openwebui": "app1"}


def on(host, *argv, check=True):
    return subprocess.run(["docker", "exec", multihost.container(host), *argv], capture_output=True, text=True, check=check)


def site(*extra, playbook="playbooks/site.yml", inventory="inventories/lab-multihost"):
    log_dir = tempfile.mkdtemp(prefix="aiplatform-mh-log-")
    argv = ["ansible-playbook", playbook, "-i", inventory]
    for item in extra:
        argv += ["-e", json.dumps(item)]
    env = dict(os.environ, AIPLATFORM_LOG_DIR=log_dir, ANSIBLE_FORCE_COLOR="0")
    env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env["PATH"]
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    return Run(proc, log_dir, time.monotonic() - start)


def recap(run):
    out = {}
    for host in PLACEMENT.values():
        line = next(x for x in run.stdout.splitlines() if x.startswith(host + " ") and "ok=" in x)
        out[host] = {k: int(v) for k, v in (part.split("=") for part in line.split(":", 1)[1].split())}
    return out


@pytest.fixture(scope="module")
def hosts(lab):
    addresses = multihost.up()
    yield addresses
    multihost.down()


@pytest.fixture(scope="module")
def runs(hosts):
    first = site()
    assert first.rc == 0, first.stdout[-6000:] + first.stderr[-2000:]
    second = site()
    assert second.rc == 0, second.stdout[-6000:]
    out = os.path.join(ROOT, "tests", "output")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "multihost_times.json"), "w") as fh:
        json.dump({"hosts": 3, "services": len(SERVICES), "cold_s": round(first.seconds, 1),
                   "noop_s": round(second.seconds, 1)}, fh)
    return first, second


def test_every_service_healthy_on_its_own_host(runs):
    first = runs[0]
    healthy = {e["service"]: e["host"] for e in first.of(ev.HEALTH_SUCCESS)}
    assert healthy == PLACEMENT
    assert not [e for e in first.events if e["level"] == "ERROR"]
    for service, host in PLACEMENT.items():
        names = on(host, "docker", "ps", "--format", "{{.Names}}").stdout.split()
        assert any(n == f"aiplatform-{service}" or n.startswith(f"aiplatform-{service}-") for n in names), (service, host)


def test_order_across_hosts_from_the_events(runs):
    # Hosts move independently: a dependency on the same host is healthy by that host's HEALTH_SUCCESS; one on
    # another host by the DEPENDENCY_READY the dependent's host recorded when it probed it (it cannot be ready
    # before its own host started it).
    first = runs[0]
    healthy = {e["service"]: e["time"] for e in first.of(ev.HEALTH_SUCCESS)}
    start = {e["service"]: e["time"] for e in first.of(ev.DEPLOY_START)}
    seen = {(e["host"], e["service"]): e["time"] for e in first.of(ev.DEPENDENCY_READY)}
    for service, needs in default_dependencies().items():
        for dep in needs:
            if PLACEMENT[dep] == PLACEMENT[service]:
                assert start[service] >= healthy[dep], (service, dep)
            else:
                ready = seen[(PLACEMENT[service], dep)]
                assert start[dep] <= ready <= start[service], (service, dep)
    # no lockstep: n8n (PostgreSQL, Redis) does not wait for what Dify also needs (LiteLLM on the model host)
    assert start["n8n"] <= start["dify"]


def test_second_run_changes_nothing_on_any_host(runs):
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in recap(runs[1]).values()), recap(runs[1])


def ee_image():
    """The execution environment's tag, with this checkout's collection in it: built by scripts/ee.sh (scripts/test.sh
    built it just before, and says so in AIPLATFORM_EE_BUILT)."""
    version = re.search(r"^version: *(\S+)", open(os.path.join(ROOT, "galaxy.yml")).read(), re.M).group(1)
    if os.environ.get("AIPLATFORM_EE_BUILT") != "1":
        built = subprocess.run(["bash", "scripts/ee.sh", "build"], cwd=ROOT, capture_output=True, text=True, check=False)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
    return f"aiplatform-ee:{version}"


def test_the_execution_environment_runs_site_against_the_three_hosts_and_changes_nothing(hosts, runs):
    # As AWX runs it: the collection installed in the execution environment (scripts/ee.sh build), site.yml run by
    # ansible-navigator in it over SSH against the hosts deployed above. Every task runs; nothing is left to change.
    log_dir = tempfile.mkdtemp(prefix="aiplatform-ee-log-")
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0")
    env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env["PATH"]
    proc = subprocess.run(
        ["ansible-navigator", "run", "playbooks/site.yml", "--mode", "stdout", "--pull-policy", "never",
         "--eei", ee_image(), "--ce", "docker", "-i", "inventories/lab-multihost",
         "--senv", "ANSIBLE_COLLECTIONS_PATH=/usr/share/ansible/collections", f"--co=--network={multihost.NETWORK}",
         "--lf", os.path.join(log_dir, "ansible-navigator.log"), "--pae", "false"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:] + proc.stderr[-2000:]
    for host in hosts:
        line = re.search(rf"^{host} +: ok=\d+ +changed=(\d+) +unreachable=(\d+) +failed=(\d+)", out, re.M)
        assert line and line.groups() == ("0", "0", "0"), (host, out[-4000:])
    # the platform's own log lines reach the job output from inside the EE
    assert re.search(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[INFO\] \[[a-z0-9]+\] ", out), out[-4000:]


def test_apps_reach_their_dependencies_on_other_hosts(hosts, runs):
    # The rendered configuration names the data host's address and published port, never a container name.
    env = on("app1", "cat", "/opt/aiplatform/openwebui/openwebui.env").stdout
    assert f"@{hosts['data1']}:5432/openwebui" in env and f"@{hosts['data1']}:6379/0" in env
    compose = on("app1", "cat", "/opt/aiplatform/openwebui/compose.yml").stdout
    assert f"http://{hosts['model1']}:4000/v1" in compose
    # ... and the stand-ins are ready only because they logged in there: their readiness answers now
    for container, port, path in (("aiplatform-openwebui", 8080, "/ready"), ("aiplatform-n8n", 5678, "/healthz/readiness")):
        code = on("app1", "docker", "exec", container, "python3", "-c",
                  f"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:{port}{path}').status)").stdout
        assert code.strip() == "200", container
    # LiteLLM on the model host routes to Ollama there; the data host published only on its own address
    published = on("data1", "docker", "ps", "--format", "{{.Ports}}").stdout
    assert f"{hosts['data1']}:5432->5432/tcp" in published and "0.0.0.0:5432" not in published


def test_cross_host_wiring_failure_names_the_address(hosts, runs):
    # The data host's firewall starts refusing the app host on PostgreSQL's port: the status run checks the wiring
    # from inside each healthy service's network and names the exact address that could not be reached.
    rule = ["DOCKER-USER", "-s", hosts["app1"], "-p", "tcp", "--dport", "5432", "-j", "REJECT", "--reject-with", "tcp-reset"]
    on("data1", "iptables", "-I", *rule)
    try:
        run = site(playbook="playbooks/status.yml")
    finally:
        on("data1", "iptables", "-D", *rule)
    assert run.rc != 0
    failed = run.of(ev.CONNECTIVITY_FAIL)
    assert {e["service"] for e in failed} >= {"n8n", "openwebui", "flowise", "dify"}, failed
    assert all(f"{hosts['data1']}:5432" in e["message"] for e in failed), failed
    assert all(e["host"] == "app1" for e in failed)
    # the services on the other hosts were not affected, and with the firewall open again all is well
    again = site(playbook="playbooks/status.yml")
    assert again.rc == 0 and not again.of(ev.CONNECTIVITY_FAIL)


def engine_answers(host):
    return on(host, "docker", "info", check=False).returncode == 0


def test_engine_stopped_on_one_host(hosts, runs):
    # The model host's engine is stopped: its precheck fails (engine), what depends on its services is skipped with
    # the reason, the data host's services and n8n carry on; once the engine is back a re-run converges.
    on("model1", "pkill", "-TERM", "dockerd")
    wait_until(lambda: not engine_answers("model1"), 30, "model1's engine stopped")
    try:
        run = site()
    finally:
        on("model1", "/usr/local/bin/start-dockerd")
        wait_until(lambda: engine_answers("model1"), 30, "model1's engine answering again")
    assert run.rc != 0
    pre = run.of(ev.PRECHECK_FAIL)
    assert pre and all(e["host"] == "model1" and e["category"] == "engine" for e in pre), pre
    skipped = {e["service"] for e in run.of(ev.DEPLOY_SKIPPED)}
    assert {"dify", "flowise", "anythingllm", "openwebui"} <= skipped, skipped
    assert run.of(ev.HEALTH_SUCCESS, "postgres") and run.of(ev.HEALTH_SUCCESS, "n8n")
    again = site()
    assert again.rc == 0, again.stdout[-4000:]
    assert {e["service"] for e in again.of(ev.HEALTH_SUCCESS)} == set(PLACEMENT)


KEY = "integration-backup-key-0123456789"
APPS = [name for name, host in PLACEMENT.items() if host == "app1"]
# Whose repository a host reads and writes: its own; model1's restore reads lost app1's (given app1's credentials, as
# an operator gives them to the host that takes a lost host's place)
# (the server's users are not the hosts' names: a no_log value is masked wherever it appears in the output)
WHO = "('app1' if inventory_hostname == 'model1' and aiplatform_restore_host | default('') == 'app1' else inventory_hostname)"
WHOSE = "{{ " + WHO + " }}"
# app1's repository is reached over sftp (root on data1, with the lab's key); the others' on the REST server
SSH = {"aiplatform_backup_ssh_identity": "/root/.ssh/backup_id",
       "aiplatform_backup_ssh_known_hosts": "/root/.ssh/backup_known_hosts"}


def rest_user(host):
    return f"backup-{host}"


def rest_password(host):
    return f"rest-{host}-0123456789"


def repository(address, sftp_host):
    """The variables that point every host at its private repository (templated per host): app1's in a directory of
    data1 over sftp, the others' on the backup server."""
    user = rest_user(WHOSE)
    where = (f"{{{{ 'sftp:root@{sftp_host}:/srv/restic-app1' if {WHO} == 'app1' else "
             f"'rest:http://{address}:8000/backup-' ~ {WHO} ~ '/' }}}}")
    return dict(SSH, aiplatform_backup_key=KEY, aiplatform_backup_repository=where,
                aiplatform_backup_repository_env={"RESTIC_REST_USERNAME": user, "RESTIC_REST_PASSWORD": rest_password(WHOSE)})


def sftp_login(hosts, *clients):
    """The clients log in to data1 as root with the lab's key, trusting only data1's host key (scanned once here)."""
    key = open(os.path.join(multihost.INVENTORY, ".ssh", "id_ed25519")).read()
    scanned = on("data1", "sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub").stdout
    known = "".join(f"{hosts['data1']} {line.split(' ', 2)[0]} {line.split(' ', 2)[1]}\n"
                    for line in scanned.splitlines() if line.strip())
    for host in clients:
        for path, text in ((SSH["aiplatform_backup_ssh_identity"], key),
                           (SSH["aiplatform_backup_ssh_known_hosts"], known)):
            subprocess.run(["docker", "exec", "-i", multihost.container(host), "sh", "-c",
                            f"umask 077 && mkdir -p /root/.ssh && cat > {path}"], input=text, text=True, check=True)


def without_app1(hosts):
    """The lab inventory after app1 is lost: model1 takes the applications' group too (and with it their variables)."""
    where = tempfile.mkdtemp(prefix="aiplatform-mh-inventory-")
    os.symlink(os.path.join(multihost.INVENTORY, "group_vars"), os.path.join(where, "group_vars"))
    inventory = {"all": {"children": {"aiplatform": {"children": {
        "aiplatform_data": {"hosts": {"data1": {"ansible_host": hosts["data1"]}}},
        "aiplatform_models": {"hosts": {"model1": {"ansible_host": hosts["model1"]}}},
        "aiplatform_apps": {"hosts": {"model1": {}}}}}},
        "vars": {"ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3",
                 "ansible_ssh_private_key_file": os.path.join(multihost.INVENTORY, ".ssh", "id_ed25519")}}}
    with open(os.path.join(where, "hosts.yml"), "w") as fh:
        json.dump(inventory, fh)  # JSON is YAML
    return where


def test_the_app_host_is_lost_and_its_backup_restores_onto_another_host(hosts, runs):
    # Last in this module: app1 is stopped for good. Each host backs up its part into its own repository off its own
    # disk: data1 and model1 on a backup server (restic's REST server: a user and a private repository each), app1 in
    # a directory of data1 over sftp; nothing passes through the controller. app1 is lost; an inventory without it
    # puts the applications on model1, which restores app1's latest run over sftp while data1 restores its own from
    # the server; everything is healthy again, app1's files and secrets came along.
    address = multihost.backup_server({rest_user(host): rest_password(host) for host in multihost.HOSTS})
    sftp_login(hosts, "app1", "model1")
    on("app1", "docker", "exec", "aiplatform-n8n", "sh", "-c", "echo moved-with-n8n > /home/node/.n8n/moved.txt")
    on("data1", "docker", "exec", "aiplatform-postgres", "psql", "-U", "n8n", "-d", "n8n", "-c",
       "CREATE TABLE moved (v text); INSERT INTO moved VALUES ('row-kept')")
    secrets = json.loads(on("app1", "cat", "/opt/aiplatform/secrets/n8n.json").stdout)
    backup = site(repository(address, hosts["data1"]), playbook="playbooks/backup.yml")
    assert backup.rc == 0, backup.stdout[-5000:]
    assert {e["host"] for e in backup.of("BACKUP_SUCCESS")} == {"data1", "model1", "app1"}
    stored = subprocess.run(["docker", "exec", multihost.BACKUP_SERVER, "ls", "/data"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert sorted(stored) == [rest_user(h) for h in ("data1", "model1")], stored  # one each, on the server
    assert "config" in on("data1", "ls", "/srv/restic-app1").stdout.split()  # app1's, over sftp
    subprocess.run(["docker", "stop", multihost.container("app1")], capture_output=True, check=True)  # lost
    multihost.load("model1", multihost.IMAGES["app1"])  # what the new host needs to run the applications
    run = site(dict(repository(address, hosts["data1"]), aiplatform_restore_host="{{ 'app1' if inventory_hostname == 'model1' else '' }}",
                    aiplatform_restore_force=True), playbook="playbooks/restore.yml", inventory=without_app1(hosts))
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert {e["host"] for e in run.of("RESTORE_SUCCESS")} == {"data1", "model1"}
    started = [e["message"] for e in run.of("RESTORE_START")]
    assert any("Z-app1 " in m for m in started) and any("Z-data1 " in m for m in started), started
    healthy = {e["service"]: e["host"] for e in run.of(ev.HEALTH_SUCCESS)}
    assert healthy == dict(PLACEMENT, **{name: "model1" for name in APPS}), healthy
    assert on("model1", "docker", "exec", "aiplatform-n8n", "cat", "/home/node/.n8n/moved.txt").stdout.strip() == \
        "moved-with-n8n"
    assert json.loads(on("model1", "cat", "/opt/aiplatform/secrets/n8n.json").stdout) == secrets
    row = on("data1", "docker", "exec", "aiplatform-postgres", "psql", "-U", "n8n", "-d", "n8n", "-At", "-c",
             "SELECT v FROM moved").stdout.strip()
    assert row == "row-kept"
    print(f"restore onto another host: {run.seconds:.1f} s")
