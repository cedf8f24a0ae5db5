"""Backup and restore on the real engine: the whole platform (the lab's real n8n, Flowise and Open WebUI).

Real data through the real applications (an n8n credential and workflow, a Flowise chatflow), a row in every
application database and a file in every volume the backup takes, a backup, a purge (teardown with aiplatform_purge,
secrets removed), a restore onto a fresh base directory: the n8n credential decrypts, the chatflow, every row and
every file are back. A changed archive is refused before anything changes. Only 127.0.0.1 is addressed.
"""
import http.cookiejar
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request

import pytest

from .conftest import Platform, docker

KEY = "integration-backup-key-0123456789"
# the volumes a backup takes without aiplatform_backup_models (Ollama's models are optional); Dify's weaviate only
# with dify_vector_store weaviate
VOLUMES = ["aiplatform_redis_data", "aiplatform_n8n_data", "aiplatform_flowise_data", "aiplatform_dify_storage",
           "aiplatform_dify_plugins", "aiplatform_anythingllm_storage", "aiplatform_openwebui_data",
           "aiplatform_proxy_data"]
EMAIL = "admin@aiplatform.local"


class LoopbackCookies(http.cookiejar.DefaultCookiePolicy):
    """Send Secure cookies to 127.0.0.1 over http too (as browsers and curl do for loopback): n8n marks its own so."""

    def return_ok_secure(self, cookie, request):
        return True


class Session:
    """JSON calls with cookies (n8n and Flowise log in with a session cookie; n8n ties it to a browser-id header)."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        jar = http.cookiejar.CookieJar(policy=LoopbackCookies())
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def __call__(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", "x-request-from": "internal",
                                              "browser-id": "aiplatform-backup-test",
                                              # Flowise in production sets its session cookie only on HTTPS: as
                                              # behind the platform's TLS proxy (Flowise trusts the header)
                                              "X-Forwarded-Proto": "https"})
        try:
            with self.opener.open(req, timeout=20) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")


def password(p, app):
    return json.load(open(os.path.join(p.base_dir, "secrets", f"{app}.json")))["admin_password"]


def n8n(p):
    s = Session(5678)
    status, doc = s("POST", "/rest/login", {"emailOrLdapLoginId": EMAIL, "password": password(p, "n8n")})
    assert status == 200, doc
    return s


def flowise(p):
    s = Session(3000)
    status, doc = s("POST", "/api/v1/auth/login", {"email": EMAIL, "password": password(p, "flowise")})
    assert status == 200, doc
    return s


def psql(sql, db="n8n"):
    return docker("exec", "aiplatform-postgres", "psql", "-U", "n8n", "-d", db, "-At", "-c", sql).stdout.strip()


def as_admin(sql, db="postgres"):
    """psql as the server's administrator (POSTGRES_USER of the container)."""
    return docker("exec", "aiplatform-postgres", "sh", "-c", f'psql -U "$POSTGRES_USER" -d {db} -At -c "{sql}"'
                  ).stdout.strip()


def app_databases():
    # not the server's own (template0/1, postgres) nor the administrator's ($POSTGRES_DB, expanded by the shell)
    names = as_admin("SELECT datname FROM pg_database WHERE datname NOT IN "
                     "('postgres', 'template0', 'template1', '$POSTGRES_DB')")
    return sorted(names.split())


def volume_file(volume, write=None):
    """Read (or write) volume-probe.txt at the top of a named volume, through a throw-away container of the lab's base."""
    script = f"printf %s {write} > /v/volume-probe.txt" if write else "cat /v/volume-probe.txt"
    return docker("run", "--rm", "-v", f"{volume}:/v", "aiplatform-lab/base:current", "sh", "-c", script,
                  check=False).stdout.strip()


def archives(dest):
    return sorted(name for name in os.listdir(dest) if not name.endswith(".partial"))


@pytest.fixture(scope="module")
def taken(shared_platform):
    p = shared_platform.get()[0]  # its last user: the purge below ends it
    dest = tempfile.mkdtemp(prefix="aiplatform-backups-")
    run = p.deploy()  # what earlier tests changed is put back
    assert run.rc == 0, run.stdout[-5000:] + run.stderr[-2000:]
    s = n8n(p)
    status, cred = s("POST", "/rest/credentials", {"name": "backup-probe", "type": "httpHeaderAuth",
                                                   "data": {"name": "X-Probe", "value": "kept-through-restore"}})
    assert status == 200, cred
    status, flow = s("POST", "/rest/workflows", {"name": "backup-probe", "nodes": [], "connections": {},
                                                 "settings": {}})
    assert status == 200, flow
    f = flowise(p)
    chatflow = {"name": "backup-probe", "type": "CHATFLOW", "flowData": '{"nodes":[],"edges":[]}'}
    status, chat = f("POST", "/api/v1/chatflows", chatflow)
    assert status == 200, chat
    psql("CREATE TABLE backup_probe (v text); INSERT INTO backup_probe VALUES ('row-kept')")
    databases = app_databases()
    assert {"n8n", "flowise", "dify", "openwebui"} <= set(databases), databases
    for db in databases:
        as_admin(f"CREATE TABLE admin_probe (v text); INSERT INTO admin_probe VALUES ('row-of-{db}')", db)
    for volume in VOLUMES:
        volume_file(volume, write=f"file-of-{volume}")
    docker("exec", "aiplatform-n8n", "sh", "-c", "echo file-kept > /home/node/.n8n/backup-probe.txt")
    run = p.deploy({"aiplatform_backup_key": KEY, "aiplatform_backup_dest": dest}, playbook="playbooks/backup.yml")
    assert run.rc == 0, run.stdout[-5000:] + run.stderr[-2000:]
    yield p, dest, run, {"credential": cred["data"]["id"], "workflow": flow["data"]["id"], "chatflow": chat["id"],
                         "databases": databases}
    p.teardown()
    shutil.rmtree(dest, ignore_errors=True)


def test_the_backup_is_sealed_complete_and_reported(taken):
    p, dest, run, ids = taken
    (name,) = archives(dest)
    manifest = json.load(open(os.path.join(dest, name, "manifest.json")))
    paths = {f["path"] for f in manifest["files"]}
    # (the lab LiteLLM has no database)
    assert {"pg/roles.sql", "secrets.enc"} | {f"pg/{db}.dump" for db in ids["databases"]} \
        | {f"volumes/{v}.tar.gz" for v in VOLUMES} <= paths, sorted(paths)
    assert os.stat(os.path.join(dest, name)).st_mode & 0o077 == 0
    enc = open(os.path.join(dest, name, "secrets.enc")).read()
    assert all(value not in enc for value in p.secrets())
    assert run.of("BACKUP_START") and run.of("BACKUP_SUCCESS")[0]["size"] == manifest["size"]
    paused = {e["service"] for e in run.of("BACKUP_PAUSE")}
    assert paused == {"redis", "dify", "anythingllm", "openwebui", "proxy"} and len(run.of("BACKUP_RESUME")) == len(run.of("BACKUP_PAUSE"))
    print(f"backup: {run.seconds:.1f} s, archive {manifest['size']} bytes")


def test_a_changed_archive_is_refused_before_anything_changes(taken):
    p, dest, dummy, dummy_ids = taken
    (name,) = archives(dest)
    bad = os.path.join(dest, name + "-tampered")
    shutil.copytree(os.path.join(dest, name), bad)
    with open(os.path.join(bad, "pg", "n8n.dump"), "r+b") as fh:
        fh.seek(100)
        fh.write(b"\0\0\0\0")
    before = docker("ps", "-q").stdout
    run = p.deploy({"aiplatform_backup_key": KEY, "aiplatform_restore_from": bad, "aiplatform_restore_force": True},
                   playbook="playbooks/restore.yml")
    assert run.rc != 0
    refused = run.of("RESTORE_REFUSED")
    assert refused and "pg/n8n.dump: sha256 differs" in refused[0]["message"]
    assert docker("ps", "-q").stdout == before  # nothing was torn down
    shutil.rmtree(bad)


def test_purge_then_restore_onto_a_fresh_base_dir_brings_everything_back(taken):
    p, dest, dummy, ids = taken
    (name,) = archives(dest)
    purge = p.deploy({"aiplatform_purge": True}, playbook="playbooks/teardown.yml")
    assert purge.rc == 0, purge.stdout[-3000:]
    left = docker("network", "ls", "--filter", "label=aiplatform.stack.network=true", "--format", "{{.Name}}").stdout.split()
    assert not left, f"platform networks left after teardown: {left}"
    shutil.rmtree(p.base_dir)
    fresh = Platform(tempfile.mkdtemp(prefix="aiplatform-base-"), services=p.services, defaults=p.defaults)
    run = fresh.deploy({"aiplatform_backup_key": KEY, "aiplatform_restore_from": os.path.join(dest, name)},
                       playbook="playbooks/restore.yml")
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert run.of("RESTORE_START") and run.of("RESTORE_SUCCESS")
    print(f"restore: {run.seconds:.1f} s")
    # the credential decrypts with the restored encryption key
    s = n8n(fresh)
    status, cred = s("GET", f"/rest/credentials/{ids['credential']}?includeData=true")
    # (the name sits inside the encrypted data; n8n 2 blanks a secret field's value in any answer, once decrypted)
    assert status == 200 and cred["data"]["data"]["name"] == "X-Probe", cred
    assert cred["data"]["data"]["value"].startswith("__n8n_BLANK_VALUE"), cred
    status, flow = s("GET", f"/rest/workflows/{ids['workflow']}")
    assert status == 200 and flow["data"]["name"] == "backup-probe"
    status, chat = flowise(fresh)("GET", f"/api/v1/chatflows/{ids['chatflow']}")
    assert status == 200 and chat["name"] == "backup-probe"
    assert psql("SELECT v FROM backup_probe") == "row-kept"
    assert {db: as_admin("SELECT v FROM admin_probe", db) for db in ids["databases"]} == {
        db: f"row-of-{db}" for db in ids["databases"]}
    assert {v: volume_file(v) for v in VOLUMES} == {v: f"file-of-{v}" for v in VOLUMES}
    assert docker("exec", "aiplatform-n8n", "cat", "/home/node/.n8n/backup-probe.txt").stdout.strip() == "file-kept"
    p.base_dir = fresh.base_dir  # the fixture's teardown removes this one
