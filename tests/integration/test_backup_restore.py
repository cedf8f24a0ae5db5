"""Backup and restore on the real engine: the whole platform (the lab's real n8n, Flowise and Open WebUI).

The shared platform's cycle (conftest.SharedPlatform.cycle) writes real data through the real applications (an n8n
credential and workflow, a Flowise chatflow), a row in every application database and a file in every volume the
backup takes, backs it up (models too), tears it down, purges it (volumes and secrets removed) and restores it onto a
fresh base directory: here the n8n credential decrypts, the chatflow, every row and every file are back. A changed
archive is refused before anything changes. Only 127.0.0.1 is addressed.
"""
import json
import os
import shutil

import pytest

from .appdata import KEY, VOLUMES, archives, as_admin, flowise, n8n, psql, volume_file
from .conftest import docker


@pytest.fixture(scope="module")
def taken(shared_platform):
    p = shared_platform.get()[0]
    return p, shared_platform.cycle()


def test_the_backup_is_sealed_complete_and_reported(taken):
    p, cycled = taken
    (name,) = archives(cycled.dest)
    manifest = json.load(open(os.path.join(cycled.dest, name, "manifest.json")))
    paths = {f["path"] for f in manifest["files"]}
    # (the lab LiteLLM has no database; Ollama's models are in it: the cycle's backup asked for them)
    assert {"pg/roles.sql", "secrets.enc"} | {f"pg/{db}.dump" for db in cycled.ids["databases"]} \
        | {f"volumes/{v}.tar.gz" for v in VOLUMES} <= paths, sorted(paths)
    assert os.stat(os.path.join(cycled.dest, name)).st_mode & 0o077 == 0
    enc = open(os.path.join(cycled.dest, name, "secrets.enc")).read()
    assert all(value not in enc for value in p.secrets())
    run = cycled.backup
    assert run.of("BACKUP_START") and run.of("BACKUP_SUCCESS")[0]["size"] == manifest["size"]
    paused = {e["service"] for e in run.of("BACKUP_PAUSE")}
    assert paused == {"redis", "dify", "anythingllm", "openwebui", "proxy"} and len(run.of("BACKUP_RESUME")) == len(run.of("BACKUP_PAUSE"))
    print(f"backup: {run.seconds:.1f} s, archive {manifest['size']} bytes")


def test_a_changed_archive_is_refused_before_anything_changes(taken):
    p, cycled = taken
    (name,) = archives(cycled.dest)
    bad = os.path.join(cycled.dest, name + "-tampered")
    shutil.copytree(os.path.join(cycled.dest, name), bad)
    with open(os.path.join(bad, "pg", "n8n.dump"), "r+b") as fh:
        fh.seek(100)
        fh.write(b"\0\0\0\0")
    before = docker("ps", "-q").stdout
    run = p.deploy({"aiplatform_backup_key": KEY, "aiplatform_restore_from": bad, "aiplatform_restore_force": True},
                   playbook="playbooks/restore.yml")
    shutil.rmtree(bad)
    assert run.rc != 0
    refused = run.of("RESTORE_REFUSED")
    assert refused and "pg/n8n.dump: sha256 differs" in refused[0]["message"]
    assert docker("ps", "-q").stdout == before  # nothing was torn down


def test_purge_then_restore_onto_a_fresh_base_dir_brings_everything_back(taken):
    p, cycled = taken
    assert cycled.purge.rc == 0, cycled.purge.stdout[-3000:]
    assert not cycled.networks_left, f"platform networks left after teardown: {cycled.networks_left}"
    run, ids = cycled.up, cycled.ids
    assert run.of("RESTORE_START") and run.of("RESTORE_SUCCESS")
    print(f"restore: {run.seconds:.1f} s")
    # the credential decrypts with the restored encryption key
    s = n8n(p)
    status, cred = s("GET", f"/rest/credentials/{ids['credential']}?includeData=true")
    # (the name sits inside the encrypted data; n8n 2 blanks a secret field's value in any answer, once decrypted)
    assert status == 200 and cred["data"]["data"]["name"] == "X-Probe", cred
    assert cred["data"]["data"]["value"].startswith("__n8n_BLANK_VALUE"), cred
    status, flow = s("GET", f"/rest/workflows/{ids['workflow']}")
    assert status == 200 and flow["data"]["name"] == "backup-probe"
    status, chat = flowise(p)("GET", f"/api/v1/chatflows/{ids['chatflow']}")
    assert status == 200 and chat["name"] == "backup-probe"
    assert psql("SELECT v FROM backup_probe") == "row-kept"
    assert {db: as_admin("SELECT v FROM admin_probe", db) for db in ids["databases"]} == {
        db: f"row-of-{db}" for db in ids["databases"]}
    assert {v: volume_file(v) for v in VOLUMES} == {v: f"file-of-{v}" for v in VOLUMES}
    assert docker("exec", "aiplatform-n8n", "cat", "/home/node/.n8n/backup-probe.txt").stdout.strip() == "file-kept"
