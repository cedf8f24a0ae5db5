"""Least privilege on the real engine, after one whole-platform deploy (the shared one: n8n in queue mode, so the real
n8n logs in to Redis too).

Dify's sandbox, from inside its network namespace: PostgreSQL, Redis, LiteLLM and Ollama cannot be reached, by
name, by address or through the host's published ports; the lab's real squid refuses (403) a proxied request to a
private address; Dify's api still reaches the sandbox and the plugin daemon. Redis: each application logs in with a
user of its own and cannot run an admin command; the default user's password is in no application's files.
Only loopback and the platform's own containers are addressed: nothing here sends a packet off the machine.
"""
import hashlib
import json
import os
import socket
import stat
from urllib.parse import unquote, urlsplit

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import connectivity as cn

from .conftest import docker, read_head

# application -> (container it runs in, its env file below the base directory, how its credentials are named)
REDIS_CONSUMERS = {
    "dify": ("aiplatform-dify-api", "dify/dify.env", ("REDIS_USERNAME", "REDIS_PASSWORD")),
    "litellm": ("aiplatform-litellm", "litellm/litellm.env", ("REDIS_USERNAME", "REDIS_PASSWORD")),
    "n8n": ("aiplatform-n8n", "n8n/n8n.env", ("QUEUE_BULL_REDIS_USERNAME", "QUEUE_BULL_REDIS_PASSWORD")),
    "openwebui": ("aiplatform-openwebui", "openwebui/openwebui.env", "REDIS_URL"),
}
# what the sandbox must not reach: the data services and the models, by their names on the platform network
FORBIDDEN = {"postgres": 5432, "redis": 6379, "litellm": 4000, "ollama": 11434}


@pytest.fixture(scope="module")
def deployed(shared_platform):
    return shared_platform.get()[0]  # n8n in queue mode (SHARED_VARS)


def pid_of(container):
    pid = int(docker("inspect", "-f", "{{.State.Pid}}", container).stdout.strip())
    assert pid > 0, f"{container} is not running"
    return pid


def networks_of(container):
    return json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container).stdout)


def postgres_address():
    """PostgreSQL's address on one of its networks (each is a link network now)."""
    return next(n["IPAddress"] for n in networks_of("aiplatform-postgres").values() if n.get("IPAddress"))


def env_file(path):
    values = {}
    for line in open(path).read().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value[1:-1] if value[:1] in ("'", '"') and value[-1:] == value[:1] else value
    return values


# -- run inside a namespace (call_in_netns forks: these functions run in the child) ------------------------------

def http_via_proxy(proxy_name, url):
    """GET `url` through the proxy named `proxy_name` (resolved by Docker's DNS of this namespace)."""
    address = cn.resolve(proxy_name)[0]
    with socket.create_connection((address, 3128), timeout=10) as sock:
        sock.sendall(f"GET {url} HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\nConnection: close\r\n\r\n".encode())
        data = read_head(sock)
    head = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, dummy, v in (h.partition(":") for h in head[1:])}
    return {"status": int(head[0].split()[1]), "server": headers.get("server", ""),
            "squid_error": headers.get("x-squid-error", "")}


def http_get(host, port, path):
    address = cn.resolve(host)[0]
    with socket.create_connection((address, port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return int(sock.recv(4096).split(b"\r\n")[0].split()[1])


def _resp(*args):
    out = b"*%d\r\n" % len(args)
    for arg in args:
        raw = str(arg).encode()
        out += b"$%d\r\n%s\r\n" % (len(raw), raw)
    return out


def _reply(stream):
    line = stream.readline().rstrip(b"\r\n").decode()
    kind, rest = line[:1], line[1:]
    if kind in "+-:":
        return line
    if kind == "$":
        return None if int(rest) < 0 else stream.read(int(rest) + 2)[:-2].decode()
    if kind == "*":
        return [_reply(stream) for dummy in range(max(int(rest), 0))]
    raise ValueError(f"not RESP: {line[:40]!r}")


def redis_session(host, commands):
    """Send each command (a tuple) to Redis at host:6379; their replies, errors as '-...' strings."""
    address = cn.resolve(host)[0]
    with socket.create_connection((address, 6379), timeout=5) as sock:
        stream = sock.makefile("rb")
        replies = []
        for command in commands:
            sock.sendall(_resp(*command))
            replies.append(_reply(stream))
        return replies


# -- Dify's sandbox -----------------------------------------------------------------------------------------------

def test_the_sandbox_reaches_no_data_service_and_no_model(deployed):
    sandbox = "aiplatform-dify-sandbox"
    assert set(networks_of(sandbox)) == {"aiplatform_dify_ssrf_proxy"}
    gateway = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}",
                     "aiplatform_dify_ssrf_proxy").stdout.strip()
    assert gateway, "the internal network has no gateway address (the host's side of it)"
    endpoints = []
    for name, port in FORBIDDEN.items():
        addresses = [n["IPAddress"] for n in networks_of(f"aiplatform-{name}").values() if n.get("IPAddress")]
        # by service name, container name, its address on each of its networks, and the host's published port
        endpoints += [(name, port), (f"aiplatform-{name}", port), *((a, port) for a in addresses), (gateway, port)]
    found = cn.in_netns(pid_of(sandbox), [("127.0.0.1", 8194), *endpoints])
    assert found[0]["ok"], f"not inside the sandbox's namespace: {found[0]}"  # its own port answers there
    reached = [f"{host}:{port} ({r['detail']})" for (host, port), r in zip(endpoints, found[1:], strict=True) if r["ok"]]
    assert not reached, f"the sandbox reaches {reached}"


@pytest.mark.parametrize("target", ["postgres-address", "http://127.0.0.1/", "http://169.254.169.254/latest/meta-data/",
                                    "http://[::1]/", "http://100.64.0.1/"])
def test_squid_refuses_a_proxied_request_to_a_private_address(deployed, target):
    if target == "postgres-address":  # port 80 of a platform container: refused for its address, not its port
        target = f"http://{postgres_address()}/"
    answer = cn.call_in_netns(pid_of("aiplatform-dify-sandbox"), lambda: http_via_proxy("dify-ssrf-proxy", target))
    assert answer["status"] == 403 and answer["squid_error"].startswith("ERR_ACCESS_DENIED"), answer
    assert answer["server"].startswith("squid"), answer  # the real squid answered, not a stand-in


def test_squid_refuses_a_port_that_is_not_allowed(deployed):
    target = f"http://{postgres_address()}:5432/"
    answer = cn.call_in_netns(pid_of("aiplatform-dify-sandbox"), lambda: http_via_proxy("dify-ssrf-proxy", target))
    assert answer["status"] == 403 and answer["squid_error"].startswith("ERR_ACCESS_DENIED"), answer


def test_the_proxy_is_reachable_from_the_internal_network_only(deployed):
    proxy = networks_of("aiplatform-dify-ssrf-proxy")
    assert set(proxy) == {"aiplatform_dify_ssrf_proxy", "aiplatform_dify_ssrf_egress"}
    internal = proxy["aiplatform_dify_ssrf_proxy"]["IPAddress"]
    egress = proxy["aiplatform_dify_ssrf_egress"]["IPAddress"]
    # n8n is on the platform network only: neither the proxy's name nor its addresses answer there
    found = cn.in_netns(pid_of("aiplatform-n8n"), [("dify-ssrf-proxy", 3128), (internal, 3128), (egress, 3128)])
    assert not [r for r in found if r["ok"]], found


def test_difys_api_still_reaches_sandbox_plugin_daemon_and_proxy(deployed):
    api = pid_of("aiplatform-dify-api")
    found = cn.in_netns(api, [("dify-sandbox", 8194), ("dify-plugin-daemon", 5002), ("dify-ssrf-proxy", 3128)])
    assert all(r["ok"] for r in found), found
    assert cn.call_in_netns(api, lambda: http_get("dify-sandbox", 8194, "/health")) == 200
    assert cn.call_in_netns(api, lambda: http_get("dify-plugin-daemon", 5002, "/health/check")) == 200


# -- Redis: a user per application --------------------------------------------------------------------------------

def redis_secrets(platform):
    return json.load(open(os.path.join(platform.base_dir, "secrets", "redis.json")))


def credentials(platform, app):
    container, path, names = REDIS_CONSUMERS[app]
    env = env_file(os.path.join(platform.base_dir, path))
    if isinstance(names, str):  # a URL
        url = urlsplit(env[names])
        return container, unquote(url.username), unquote(url.password)
    return container, env[names[0]], env[names[1]]


@pytest.mark.parametrize("app", sorted(REDIS_CONSUMERS))
def test_each_application_logs_in_with_its_own_user_and_no_admin_command(deployed, app):
    container, user, password = credentials(deployed, app)
    assert user == app
    assert password == redis_secrets(deployed)[f"user_{app}"]
    # from the application's own network namespace, as it connects
    auth, whoami, ping, config, flush = cn.call_in_netns(pid_of(container), lambda: redis_session("redis", [
        ("AUTH", user, password), ("ACL", "WHOAMI"), ("PING",), ("CONFIG", "GET", "maxmemory"), ("FLUSHALL",)]))
    assert (auth, whoami, ping) == ("+OK", app, "+PONG")
    assert config.startswith("-NOPERM") and flush.startswith("-NOPERM"), (config, flush)


def test_difys_celery_broker_url_carries_difys_user(deployed):
    url = urlsplit(env_file(os.path.join(deployed.base_dir, "dify", "dify.env"))["CELERY_BROKER_URL"])
    assert unquote(url.username) == "dify" and unquote(url.password) == redis_secrets(deployed)["user_dify"]


def test_the_real_n8n_holds_its_queue_connection_as_its_own_user(deployed):
    admin = redis_secrets(deployed)["admin_password"]
    dummy, clients = cn.call_in_netns(pid_of("aiplatform-redis"), lambda: redis_session("127.0.0.1", [
        ("AUTH", "admin", admin), ("CLIENT", "LIST")]))
    users = {field.split("=", 1)[1] for line in clients.splitlines() for field in line.split()
             if field.startswith("user=")}
    assert "n8n" in users, users


def test_the_default_user_answers_ping_and_nothing_else(deployed):
    password = redis_secrets(deployed)["password"]
    replies = cn.call_in_netns(pid_of("aiplatform-redis"), lambda: redis_session("127.0.0.1", [
        ("PING",), ("AUTH", password), ("PING",), ("GET", "x"), ("CONFIG", "GET", "maxmemory")]))
    assert replies[0].startswith("-NOAUTH") and replies[1:3] == ["+OK", "+PONG"]
    assert all(isinstance(r, str) and r.startswith("-NOPERM") for r in replies[3:5]), replies


def test_no_application_file_holds_the_default_or_admin_password(deployed):
    secrets = redis_secrets(deployed)
    for service in os.listdir(deployed.base_dir):
        folder = os.path.join(deployed.base_dir, service)
        if service in ("secrets", "redis") or not os.path.isdir(folder):
            continue
        for root, dummy, files in os.walk(folder):
            for name in files:
                text = open(os.path.join(root, name), errors="replace").read()
                for key in ("password", "admin_password"):
                    assert secrets[key] not in text, f"redis {key} in {os.path.join(root, name)}"


def test_the_acl_file_is_private_and_holds_hashes_only(deployed):
    path = os.path.join(deployed.base_dir, "redis", "users.acl")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    for key, value in redis_secrets(deployed).items():
        assert value not in text, key
        assert hashlib.sha256(value.encode()).hexdigest() in text, key
