"""Backup and restore on the real engine: the whole platform (the lab's real n8n, Flowise and Open WebUI), real restic.

The shared platform's cycle (conftest.SharedPlatform.cycle) writes real data through the real applications (an n8n
credential and workflow, a Flowise chatflow), a row in every application database and a file in every volume the
backup takes, backs it up into a restic repository (models too), tears it down, purges it (volumes and secrets
removed) and restores it from the repository onto a fresh base directory: here the n8n credential decrypts, the
chatflow, every row and every file are back. The repository opens with plain restic and holds none of those values in
a readable form; a wrong key and a damaged pack are refused before anything changes; a second backup of an unchanged
platform adds little. An archive directory of release 0.2 is still read by a restore, and refused when changed. Only 127.0.0.1 is
addressed.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from .. import legacy_archive
from .appdata import BULK_BYTES, KEY, VOLUMES, as_admin, flowise, n8n, psql, volume_file, volume_roots
from .conftest import docker

RESTIC = "aiplatform-lab/restic:current"


@pytest.fixture(scope="module")
def taken(shared_platform):
    p = shared_platform.get()[0]
    return p, shared_platform.cycle()


def plain_restic(repository, *args, key=KEY):
    """restic itself, as an operator without the collection runs it (the password from the environment); bytes."""
    return subprocess.run(["docker", "run", "--rm", "--network", "none", "-e", "RESTIC_PASSWORD", "-v",
                           f"{repository}:/repo", RESTIC, "-r", "/repo", "--no-cache", *args], capture_output=True,
                          check=False, env=dict(os.environ, RESTIC_PASSWORD=key))


def test_the_backup_is_a_run_of_snapshots_that_plain_restic_opens(taken):
    p, cycled = taken
    listed = plain_restic(cycled.repository, "snapshots", "--json")
    assert listed.returncode == 0, listed.stderr
    snaps = json.loads(listed.stdout)
    files = [s for s in snaps if "part=files" in s["tags"]]
    assert len(files) == 1 and all(s["hostname"] == files[0]["hostname"] for s in snaps)
    run = next(t for t in files[0]["tags"] if t.startswith("run="))
    assert all(run in s["tags"] and "aiplatform" in s["tags"] for s in snaps)
    manifest = json.loads(plain_restic(cycled.repository, "dump", files[0]["id"], "/aiplatform/manifest.json").stdout)
    paths = {f["path"] for f in manifest["files"]}
    # (the lab LiteLLM has no database; Ollama's models are in it: the cycle's backup asked for them)
    assert {"/aiplatform/pg/roles.sql", "/aiplatform/secrets"} | {f"/aiplatform/pg/{db}.dump" for db in cycled.ids["databases"]} \
        | {f"/aiplatform/volumes/{v}" for v in VOLUMES} <= paths, sorted(paths)
    assert len(snaps) == 1 + sum(1 for f in manifest["files"] if f.get("snapshot"))
    # one database, as an operator dumps it by hand
    dump = plain_restic(cycled.repository, "dump", "latest", "/aiplatform/pg/n8n.dump", "--path", "/aiplatform/pg/n8n.dump")
    assert dump.returncode == 0 and dump.stdout.startswith(b"PGDMP"), dump.stderr
    assert os.stat(cycled.repository).st_mode & 0o077 == 0
    backup = cycled.backup
    assert backup.of("BACKUP_START") and backup.of("BACKUP_SUCCESS")[0]["size"] > 0
    paused = {e["service"] for e in backup.of("BACKUP_PAUSE")}
    assert paused == {"backup"} and len(backup.of("BACKUP_RESUME")) == 1
    message = backup.of("BACKUP_PAUSE")[0]["message"]
    assert "aiplatform-redis" in message and "aiplatform-proxy" in message, message
    print(f"backup: {backup.seconds:.1f} s, {backup.of('BACKUP_SUCCESS')[0]['size']} bytes read, "
          f"repository grew by {backup.of('BACKUP_SUCCESS')[0]['added']}")


def test_the_repository_holds_no_row_file_or_secret_in_a_readable_form(taken):
    p, cycled = taken
    known = ["row-kept", "file-kept", "kept-through-restore", "backup-probe"]
    known += [f"row-of-{db}" for db in cycled.ids["databases"]] + [f"file-of-{v}" for v in VOLUMES]
    known += [value for value in p.secrets() if len(value) >= 12]
    hits = []
    for folder, dummy, names in os.walk(cycled.repository):
        for name in names:
            with open(os.path.join(folder, name), "rb") as fh:
                blob = fh.read()
            hits += [(name, value) for value in known if value.encode() in blob]
    assert len(known) > 20 and not hits


def test_a_wrong_key_and_a_damaged_pack_are_refused_before_anything_changes(taken):
    p, cycled = taken
    before = docker("ps", "-q").stdout
    wrong = p.deploy({"aiplatform_backup_key": "another-key-of-enough-length", "aiplatform_backup_repository":
                      cycled.repository, "aiplatform_restore_force": True}, playbook="playbooks/restore.yml")
    assert wrong.rc != 0
    refused = wrong.of("RESTORE_REFUSED")
    assert refused and "refuses the key" in refused[0]["message"], wrong.stdout[-2000:]
    assert docker("ps", "-q").stdout == before
    # a copy of the repository with one byte changed in its largest pack file
    copy = tempfile.mkdtemp(prefix="aiplatform-restic-damaged-")
    try:
        shutil.copytree(cycled.repository, copy, dirs_exist_ok=True)
        packs = [os.path.join(folder, name) for folder, dummy, names in os.walk(os.path.join(copy, "data"))
                 for name in names]
        largest = max(packs, key=os.path.getsize)
        with open(largest, "r+b") as fh:
            fh.seek(os.path.getsize(largest) // 2)
            byte = fh.read(1)
            fh.seek(-1, 1)
            fh.write(bytes([byte[0] ^ 0xFF]))
        damaged = p.deploy({"aiplatform_backup_key": KEY, "aiplatform_backup_repository": copy,
                            "aiplatform_restore_force": True}, playbook="playbooks/restore.yml")
    finally:
        shutil.rmtree(copy)
    assert damaged.rc != 0
    refused = damaged.of("RESTORE_REFUSED")
    assert refused and "nothing was changed" in refused[0]["message"], damaged.stdout[-2000:]
    assert "restic check" in refused[0]["message"] or "read back" in refused[0]["message"]
    assert docker("ps", "-q").stdout == before


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
    # each volume's top keeps its owner and mode (a service that runs as its own user writes there)
    assert volume_roots() == cycled.volume_roots
    assert docker("exec", "aiplatform-n8n", "cat", "/home/node/.n8n/backup-probe.txt").stdout.strip() == "file-kept"


def test_a_second_backup_of_the_unchanged_platform_adds_little(taken):
    p, cycled = taken
    first = cycled.backup.of("BACKUP_SUCCESS")[0]
    again = p.deploy({"aiplatform_backup_key": KEY, "aiplatform_backup_repository": cycled.repository,
                      "aiplatform_backup_models": True, "aiplatform_backup_verify": "100%"},
                     playbook="playbooks/backup.yml")
    assert again.rc == 0, again.stdout[-3000:]
    second = again.of("BACKUP_SUCCESS")[0]
    assert again.of("BACKUP_VERIFIED"), again.stdout[-3000:]
    # status tells the last backup, its age and its last data check (from the record the backup kept)
    status = p.deploy(playbook="playbooks/status.yml")
    line = next((x for x in status.stdout.splitlines() if "backup: last " in x), "")
    assert f"into {cycled.repository}" in line and "its data last verified" in line and "(100%)" in line, \
        status.stdout[-3000:]
    assert not [e for e in status.of("SERVICE_STATUS") if e.get("state") == "backup"]  # fresh: no warning
    print(f"first backup {cycled.backup.seconds:.1f} s, +{first['added']} bytes; second {again.seconds:.1f} s, "
          f"+{second['added']} bytes ({100 * second['added'] / first['added']:.1f} %)")
    # the restored bulk (8 MiB of random bytes in a volume, 4 MB of rows) is the same bytes: deduplicated. What is
    # new is what the running applications wrote since, the small databases (one chunk each: pg_dump's header holds
    # its time), the first chunk of the large one and the snapshots' metadata: about 1.4 MB measured. Copied
    # again, the random bytes alone would add 8 MiB.
    assert first["added"] > BULK_BYTES and second["size"] > 0.9 * first["size"]
    assert second["added"] < BULK_BYTES / 2


def test_a_changed_archive_directory_of_release_0_2_is_refused_before_anything_changes(taken):
    """Nothing writes the old format now; one made the way 0.2 did, of this platform's real n8n database, still goes
    through restore.yml's check (aiplatform_restore_from) and is refused when a byte of it changed."""
    p, cycled = taken
    dump = subprocess.run(["docker", "exec", "aiplatform-postgres", "sh", "-c", 'pg_dump -U "$POSTGRES_USER" -Fc -d n8n'],
                          capture_output=True, check=True).stdout
    roles = subprocess.run(["docker", "exec", "aiplatform-postgres", "sh", "-c",
                            'pg_dumpall -U "$POSTGRES_USER" --roles-only --no-role-passwords'],
                           capture_output=True, check=True).stdout
    assert dump.startswith(b"PGDMP") and b"CREATE ROLE" in roles
    final, manifest = legacy_archive.write(os.path.join(cycled.dest, "archives"), "localhost", time.time(), [
        {"path": "pg/roles.sql", "kind": "roles", "service": "postgres", "data": roles},
        {"path": "pg/n8n.dump", "kind": "database", "service": "n8n", "database": "n8n", "owner": "n8n",
         "extensions": [], "data": dump}], KEY, secrets={}, services=["n8n"], images={})
    with open(os.path.join(final, "pg", "n8n.dump"), "r+b") as fh:
        fh.seek(100)
        fh.write(b"\0\0\0\0")
    before = docker("ps", "-q").stdout
    run = p.deploy({"aiplatform_backup_key": KEY, "aiplatform_restore_from": final, "aiplatform_restore_force": True},
                   playbook="playbooks/restore.yml")
    assert run.rc != 0
    refused = run.of("RESTORE_REFUSED")
    assert refused and "pg/n8n.dump: sha256 differs" in refused[0]["message"], run.stdout[-3000:]
    assert docker("ps", "-q").stdout == before  # nothing was torn down
