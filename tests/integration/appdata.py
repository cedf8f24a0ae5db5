"""Data written through the shared platform's real applications, and read back: what a backup, a teardown and a
restore must keep (an n8n credential and workflow, a Flowise chatflow, a row in every application database, a file in
every volume a backup takes). Only 127.0.0.1 is addressed."""
import http.cookiejar
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

KEY = "integration-backup-key-0123456789"
# the volumes a backup takes (Ollama's models with aiplatform_backup_models; Dify's weaviate only with
# dify_vector_store weaviate)
VOLUMES = ["aiplatform_redis_data", "aiplatform_n8n_data", "aiplatform_flowise_data", "aiplatform_dify_storage",
           "aiplatform_dify_plugins", "aiplatform_anythingllm_storage", "aiplatform_openwebui_data",
           "aiplatform_proxy_data", "aiplatform_ollama_data"]
EMAIL = "admin@aiplatform.local"
BULK_BYTES = 8 << 20


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


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


def log_in(s, path, body, seconds=120):
    """A login that waits out the application's rate limit (n8n answers 429 to more than a few logins a minute from
    one address, and the tests before have logged in too), bounded by `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        status, doc = s("POST", path, body)
        if status != 429 or time.monotonic() >= deadline:
            assert status == 200, doc
            return s
        time.sleep(5)


def n8n(p):
    return log_in(Session(5678), "/rest/login", {"emailOrLdapLoginId": EMAIL, "password": password(p, "n8n")})


def flowise(p):
    return log_in(Session(3000), "/api/v1/auth/login", {"email": EMAIL, "password": password(p, "flowise")})


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


def volume_roots():
    """Owner and mode of the top of every volume a backup takes (one throw-away container for all)."""
    mounts = [arg for v in VOLUMES for arg in ("-v", f"{v}:/v/{v}:ro")]
    out = docker("run", "--rm", *mounts, "aiplatform-lab/base:current", "sh", "-c", "cd /v && stat -c '%n %u:%g %a' *")
    return dict(line.split(" ", 1) for line in out.stdout.splitlines())


def write_probes(p):
    """Data through the applications, a row in every application database, a file in every volume: their ids."""
    s = n8n(p)
    status, cred = s("POST", "/rest/credentials", {"name": "backup-probe", "type": "httpHeaderAuth",
                                                   "data": {"name": "X-Probe", "value": "kept-through-restore"}})
    assert status == 200, cred
    status, flow = s("POST", "/rest/workflows", {"name": "backup-probe", "nodes": [], "connections": {},
                                                 "settings": {}})
    assert status == 200, flow
    chatflow = {"name": "backup-probe", "type": "CHATFLOW", "flowData": '{"nodes":[],"edges":[]}'}
    status, chat = flowise(p)("POST", "/api/v1/chatflows", chatflow)
    assert status == 200, chat
    psql("CREATE TABLE backup_probe (v text); INSERT INTO backup_probe VALUES ('row-kept')")
    databases = app_databases()
    assert {"n8n", "flowise", "dify", "openwebui"} <= set(databases), databases
    for db in databases:
        as_admin(f"CREATE TABLE admin_probe (v text); INSERT INTO admin_probe VALUES ('row-of-{db}')", db)
    for volume in VOLUMES:
        volume_file(volume, write=f"file-of-{volume}")
    docker("exec", "aiplatform-n8n", "sh", "-c", "echo file-kept > /home/node/.n8n/backup-probe.txt")
    # bulk, so that what a second backup of unchanged data adds is measured against something: 8 MiB of random
    # bytes in a volume, about 4 MB of rows in a database
    docker("run", "--rm", "-v", "aiplatform_n8n_data:/v", "aiplatform-lab/base:current", "sh", "-c",
           f"head -c {BULK_BYTES} /dev/urandom > /v/bulk.bin")
    as_admin("CREATE TABLE bulk_probe AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS v "
             "FROM generate_series(1, 60000) g", "n8n")
    return {"credential": cred["data"]["id"], "workflow": flow["data"]["id"], "chatflow": chat["id"],
            "databases": databases}
