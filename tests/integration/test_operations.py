"""After the deploy: status, restart-loop prevention, recovery by category, teardown; no data or secret lost."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from . import appdata
from .conftest import ROOT, docker

ROW = "kept-through-everything"
# upgrade.yml backs up first: a key and a repository of the test's own
SNAPSHOTS = {"aiplatform_backup_key": appdata.KEY, "aiplatform_backup_dest": tempfile.mkdtemp(prefix="aiplatform-upgrade-")}


def psql(sql):
    return docker("exec", "aiplatform-postgres", "psql", "-U", "platform", "-d", "platform", "-Atc", sql, check=False)


def wait_for(predicate, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(1)
    return False


def state(name):
    out = docker("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", name, check=False).stdout.split()
    return (out[0], int(out[1])) if out else ("missing", 0)


@pytest.fixture(scope="module")
def deployed(platform):
    run = platform.deploy()
    assert run.rc == 0, run.stdout[-3000:]
    assert psql(f"CREATE TABLE keep (v text); INSERT INTO keep VALUES ('{ROW}')").returncode == 0
    secrets = {f: open(os.path.join(platform.base_dir, "secrets", f)).read() for f in os.listdir(os.path.join(platform.base_dir, "secrets"))}
    return secrets


def test_status_table(platform, deployed):
    run = platform.deploy(playbook="playbooks/status.yml")
    assert run.rc == 0
    assert "SERVICE   HOST       STATE" in run.stdout
    line = next(x for x in run.stdout.splitlines() if '"litellm   localhost' in x)
    assert "healthy" in line and "http://127.0.0.1:4000" in line and "HTTP 200" in line
    # sizes: each volume and database under its service, each disk under the table
    assert re.search(r"- volume aiplatform_postgres_data: [0-9.]+ MiB", run.stdout), run.stdout[-3000:]
    assert re.search(r"- database platform: [0-9.]+ MiB", run.stdout)
    assert re.search(r"localhost: disk of \S+: [0-9.]+% used", run.stdout)


def test_status_warns_of_a_disk_past_the_threshold_with_its_trend(platform, deployed, tmp_path):
    # a small disk the test makes (tmpfs, 8 MiB) filled to 94 %, watched beside the base directory's
    small = str(tmp_path / "small-disk")
    os.mkdir(small)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", small], check=True)
    try:
        with open(os.path.join(small, "fill"), "wb") as fh:
            fh.write(b"\0" * (7680 * 1024))
        run = platform.deploy({"aiplatform_disk_paths": [small]}, playbook="playbooks/status.yml")
    finally:
        subprocess.run(["umount", small], check=False)
    assert run.rc == 0, run.stdout[-3000:]
    disks = {e["disk"]: e for e in run.of(ev.SERVICE_STATUS, "host") if e.get("state") == "disk"}
    assert disks[small]["level"] == "WARN", disks
    used = float(re.search(r"([0-9.]+)% used", disks[small]["message"]).group(1))
    assert 90 <= used <= 100 and "aiplatform_disk_warn_percent (85)" in disks[small]["message"], disks[small]
    # the base directory's disk was read by the status before: its trend since then, in the table
    others = [x for x in run.stdout.splitlines() if "localhost: disk of " in x and small not in x]
    assert others and all(" free since " in x for x in others), others


def test_status_finds_a_restart_loop_and_stops_it(platform, deployed):
    with open(os.path.join(platform.base_dir, "litellm", "config.yaml"), "w") as fh:
        fh.write("model_list: [\n")  # drift by hand: LiteLLM cannot start with this
    docker("restart", "aiplatform-litellm")
    assert wait_for(lambda: state("aiplatform-litellm")[1] >= 3)
    run = platform.deploy(playbook="playbooks/status.yml")
    loop = run.of(ev.RESTART_LOOP, "litellm")
    assert loop and "stopped to end the loop" in loop[0]["message"]
    assert state("aiplatform-litellm")[0] == "exited"


def test_recover_by_category_and_keep_the_data(platform, deployed):
    docker("stop", "aiplatform-postgres")
    run = platform.deploy(playbook="playbooks/recover.yml")
    assert run.rc == 0, run.stdout[-3000:]
    starts = {(e["service"], e["action"]) for e in run.of(ev.RECOVERY_START)}
    assert ("postgres", "reconfigure") in starts  # stopped -> brought up again from the inventory
    assert ("litellm", "recreate") in starts and ("litellm", "reconfigure") in starts  # the bad file survives a recreate
    assert {e["service"] for e in run.of(ev.RECOVERY_SUCCESS)} == {"postgres", "litellm"}
    assert not run.of(ev.RECOVERY_NEEDED)
    assert psql("SELECT v FROM keep").stdout.strip() == ROW
    again = platform.deploy(playbook="playbooks/recover.yml")
    assert again.rc == 0 and not again.of(ev.RECOVERY_START)  # healthy services are left alone


def test_teardown_keeps_volumes_and_secrets_then_redeploy_finds_the_data(platform, deployed):
    run = platform.deploy(playbook="playbooks/teardown.yml")
    assert run.rc == 0
    assert state("aiplatform-postgres")[0] == "missing"
    assert docker("volume", "inspect", "aiplatform_postgres_data", check=False).returncode == 0
    run = platform.deploy()
    assert run.rc == 0
    assert psql("SELECT v FROM keep").stdout.strip() == ROW
    for name, text in deployed.items():
        assert open(os.path.join(platform.base_dir, "secrets", name)).read() == text  # never rotated


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_run_leaves_a_final_status_and_a_rerun_converges(platform, deployed, sig):
    log_dir = os.path.join(platform.base_dir, f"interrupt-log-{sig.name}")
    os.makedirs(log_dir)
    env = dict(os.environ, AIPLATFORM_LOG_DIR=log_dir, PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"])
    docker("rm", "-f", "aiplatform-litellm")
    proc = subprocess.Popen(["ansible-playbook", "playbooks/site.yml", "-i", "inventories/lab", "-e",
                             f"aiplatform_base_dir={platform.base_dir}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = os.path.join(log_dir, "aiplatform.log")
    assert wait_for(lambda: os.path.exists(log) and "[litellm] deploying" in open(log).read(), 120)
    proc.send_signal(sig)
    proc.wait(60)
    # A worker Ansible forked outlives a SIGKILL of the main process, asleep for good in a write to it; it runs in a
    # session of its own, so it is found by this run's log directory in its environment, and not left behind.
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                mine = f"AIPLATFORM_LOG_DIR={log_dir}".encode() in fh.read().split(b"\0")
            if mine and pid != os.getpid():
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass  # gone meanwhile, or not ours to read
    last = json.loads(open(os.path.join(log_dir, "events.jsonl")).read().splitlines()[-1])
    if sig != signal.SIGKILL:  # nothing can write after SIGKILL; the re-run below must converge all the same
        assert last["type"] == ev.RUN_END and last["status"] == "interrupted"
    run = platform.deploy()
    assert run.rc == 0 and run.of(ev.HEALTH_SUCCESS, "litellm")


def test_upgrade_one_at_a_time_and_roll_back_a_broken_version(platform, deployed):
    run = platform.deploy()
    assert run.rc == 0
    for release in ("1.2.0", "1.1.0"):
        docker("tag", "aiplatform-lab/litellm:current", f"aiplatform-lab/litellm:{release}")
    docker("tag", "aiplatform-lab/standin:current", "aiplatform-lab/postgres:broken-3")  # no PostgreSQL inside
    pg_started = docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-postgres").stdout
    run = platform.deploy({"litellm_image": "aiplatform-lab/litellm:1.2.0", **SNAPSHOTS}, playbook="playbooks/upgrade.yml")
    assert run.rc == 0, run.stdout[-3000:]
    assert docker("inspect", "-f", "{{.Config.Image}}", "aiplatform-litellm").stdout.strip() == "aiplatform-lab/litellm:1.2.0"
    assert docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-postgres").stdout == pg_started  # untouched
    # the snapshot first: every part of the host, taken before the new release started
    (snapshot,) = [e for e in run.of(ev.BACKUP_SUCCESS) if "before the upgrade" in e["message"]]
    assert snapshot["time"] < run.of(ev.DEPLOY_START, "litellm")[0]["time"]
    listed = subprocess.run(["docker", "run", "--rm", "-e", "RESTIC_PASSWORD", "-v",
                             f"{SNAPSHOTS['aiplatform_backup_dest']}/restic:/repo", "aiplatform-lab/restic:current",
                             "-r", "/repo", "snapshots", "--json", "--tag", "purpose=pre-upgrade"],
                            env=dict(os.environ, RESTIC_PASSWORD=appdata.KEY), capture_output=True, text=True,
                            check=True).stdout
    assert [f"run={snapshot['archive']}"] == [t for s in json.loads(listed) for t in s["tags"] if t.startswith("run=")]

    run = platform.deploy({"litellm_image": "aiplatform-lab/litellm:1.2.0", "postgres_image": "aiplatform-lab/postgres:broken-3",
                           "postgres_backoff": {"deadline": 8}, **SNAPSHOTS}, playbook="playbooks/upgrade.yml")
    assert run.rc != 0 and "rolled back to the previous version on localhost: postgres" in run.stdout
    rollback = [e for e in run.of(ev.DEPLOY_SUCCESS, "postgres") if e.get("rollback")]
    assert rollback and run.of(ev.HEALTH_SUCCESS, "postgres")[-1]["time"] > rollback[0]["time"]
    assert docker("inspect", "-f", "{{.Config.Image}}", "aiplatform-postgres").stdout.strip() == "aiplatform-lab/postgres:current"
    assert psql("SELECT v FROM keep").stdout.strip() == ROW  # the data survived the upgrade and the rollback
    assert not run.of(ev.DEPLOY_SKIPPED)  # healthy again: its dependents carried on


def test_an_older_release_or_a_changed_key_is_refused_before_anything_changes(platform, deployed):
    """Runs after the upgrade above: LiteLLM's data was last written by 1.2.0, its salt key fingerprinted."""
    started = docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-litellm").stdout
    docker("tag", "aiplatform-lab/litellm:current", "aiplatform-lab/litellm:1.3.0")
    run = platform.deploy({"litellm_image": "aiplatform-lab/litellm:1.3.0"}, playbook="playbooks/upgrade.yml")
    assert run.rc != 0 and "aiplatform_backup_key is empty" in run.stdout  # no snapshot, no upgrade
    assert not run.of(ev.DEPLOY_START)
    run = platform.deploy({"litellm_image": "aiplatform-lab/litellm:1.1.0"}, playbook="playbooks/upgrade.yml")
    (refused,) = run.of(ev.DATA_REFUSED, "litellm")
    assert run.rc != 0 and refused["reason"] == "downgrade" and refused["level"] == "ERROR"
    assert "aiplatform-lab/litellm:1.1.0 is older than aiplatform-lab/litellm:1.2.0" in refused["message"]
    assert not run.of(ev.DEPLOY_START)  # refused on the host before any project was touched

    secrets_file = os.path.join(platform.base_dir, "secrets", "litellm.json")
    kept = open(secrets_file).read()
    changed = dict(json.loads(kept), salt_key="sk-" + "x" * 40)
    with open(secrets_file, "w") as fh:
        json.dump(changed, fh)
    try:
        run = platform.deploy({"litellm_image": "aiplatform-lab/litellm:1.2.0"})
        (refused,) = run.of(ev.DATA_REFUSED, "litellm")
        assert run.rc != 0 and refused["reason"] == "key" and "salt_key" in refused["message"]
        assert "x" * 40 not in "\n".join(run.log_lines) + run.stdout
    finally:
        with open(secrets_file, "w") as fh:
            fh.write(kept)
    assert docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-litellm").stdout == started
    run = platform.deploy({"litellm_image": "aiplatform-lab/litellm:1.2.0"})
    assert run.rc == 0 and not run.of(ev.DATA_REFUSED), run.stdout[-3000:]


def test_secrets_stay_out_of_check_mode_and_diff_output(platform, deployed):
    secret = "sk-provider-secret-value-778899"
    before = docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-litellm").stdout
    run = platform.deploy({"litellm_extra_secrets": {"PROVIDER_KEY": secret}}, "--check", "--diff")
    assert run.rc == 0, run.stdout[-3000:]
    assert "private file, sha256" in run.stdout  # the env file changed, and the diff says only that
    everything = run.stdout + run.stderr + "\n".join(run.log_lines)
    for value in [secret, *platform.secrets()]:
        assert value not in everything
    # check mode restarted nothing
    assert docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-litellm").stdout == before


def test_no_secret_in_any_process_arguments(platform, deployed):
    values = platform.secrets()
    for name in ("aiplatform-postgres", "aiplatform-redis", "aiplatform-litellm"):
        pids = [line.split()[0] for line in docker("top", name, "-eo", "pid,args").stdout.splitlines()[1:]]
        for pid in pids:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            assert not [v for v in values if v in cmdline], name
        security = docker("inspect", "-f", "{{json .HostConfig.SecurityOpt}}", name).stdout
        assert "no-new-privileges" in security


def test_purge_is_explicit(platform, deployed):
    run = platform.deploy({"aiplatform_purge": True}, playbook="playbooks/teardown.yml")
    assert run.rc == 0
    assert docker("volume", "inspect", "aiplatform_postgres_data", check=False).returncode != 0
