"""The HTTPS front door on the real engine (lab image caddy), in front of the shared whole platform: every application
through the proxy with the platform CA, websockets upgraded, n8n told its https webhook URL, application ports closed
to other hosts, a certificate under the threshold shown as WARN by the status (the private-ACME mode is in
test_proxy_acme). Traffic stays on this machine (loopback and the engine's bridges)."""
import http.client
import json
import os
import socket
import ssl
import tempfile

import pytest

from .conftest import docker, read_head, stored_secrets, wait_until

DOMAIN = "aiplatform.internal"
# service -> (path of its ready page, statuses that count): the lab's stand-ins and real images answer these
READY = {"openwebui": ("/health", {200}), "n8n": ("/healthz/readiness", {200}), "flowise": ("/api/v1/ping", {200}),
         "anythingllm": ("/api/ping", {200}), "dify": ("/", {200, 301, 302, 307, 308, 404})}
ROOT_CA = "/data/caddy/pki/authorities/local/root.crt"


def https_status(host, path, cafile, port=443, headers=None):
    """(status, headers text) of one HTTPS request to 127.0.0.1 with `host` as SNI and Host, verified by `cafile`."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"] + list(headers or [])
        tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = read_head(tls)
    first = head.split(b"\r\n", 1)[0].decode()
    return int(first.split()[1]), head.decode(errors="replace")


def platform_ca(tmpdir):
    path = os.path.join(tmpdir, "platform-ca.crt")
    wait_until(lambda: docker("cp", f"aiplatform-proxy:{ROOT_CA}", path, check=False).returncode == 0, 60,
               "the platform CA's root certificate")
    return path


@pytest.fixture(scope="module")
def fronted(shared_platform):
    """The shared whole platform (conftest.SHARED_SERVICES: the proxy on 443 and 80) and the platform CA's file."""
    p = shared_platform.get()[0]
    yield p, platform_ca(tempfile.mkdtemp(prefix="aiplatform-ca-"))


def test_each_application_answers_its_ready_page_through_the_proxy(fronted):
    cafile = fronted[1]
    for service, (path, good) in READY.items():
        host = f"{service}.{DOMAIN}"
        wait_until(lambda h=host, pa=path, g=good: _answers(h, pa, cafile, g), 120, f"{host}{path} through the proxy")


def _answers(host, path, cafile, good):
    try:
        return https_status(host, path, cafile)[0] in good
    except OSError:
        return False


def test_a_second_run_with_the_proxy_changes_nothing(fronted):
    p = fronted[0]
    again = p.deploy()
    assert again.rc == 0 and again.recap()["changed"] == 0, again.stdout[-3000:]


def test_ollama_and_litellm_are_not_routed(fronted):
    cafile = fronted[1]
    for name in ("ollama", "litellm"):
        with pytest.raises(ssl.SSLError):  # no certificate and no site for a name that is not routed
            https_status(f"{name}.{DOMAIN}", "/", cafile)


def test_open_webui_socket_io_upgrades_through_the_proxy(fronted):
    cafile = fronted[1]
    status, head = https_status(f"openwebui.{DOMAIN}", "/ws/socket.io/?EIO=4&transport=websocket", cafile, headers=[
        "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])
    assert status == 101, head


class ThroughProxy(http.client.HTTPSConnection):
    """HTTPS to the proxy on 127.0.0.1 with the application's hostname as SNI and Host."""

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def test_n8n_reports_an_https_webhook_url(fronted):
    p, cafile = fronted
    assert docker("exec", "aiplatform-n8n", "printenv", "N8N_PROTOCOL").stdout.strip() == "https"
    context = ssl.create_default_context(cafile=cafile)
    # through the proxy, as a browser: its first administrator logs in, then reads the settings n8n gives its editor
    headers = {"Content-Type": "application/json", "browser-id": "aiplatform-proxy-test"}
    login = json.dumps({"emailOrLdapLoginId": "admin@aiplatform.local",
                        "password": stored_secrets(p, "n8n")["admin_password"]})
    status, answer, body = n8n_call(context, "POST", "/rest/login", login, headers)
    assert status == 200, body
    cookie = answer.getheader("Set-Cookie").split(";", 1)[0]
    assert "Secure" in answer.getheader("Set-Cookie")
    status, dummy, body = n8n_call(context, "GET", "/rest/settings", None, dict(headers, Cookie=cookie))
    assert status == 200, body
    assert json.loads(body)["data"]["urlBaseWebhook"] == f"https://n8n.{DOMAIN}/"
    # the proxy's X-Forwarded-For is trusted (N8N_PROXY_HOPS): n8n's rate limiter keys on the client, not the proxy,
    # and says so in its log when it is not
    logs = docker("logs", "aiplatform-n8n")
    assert "X-Forwarded-For" not in logs.stdout + logs.stderr, (logs.stdout + logs.stderr)[-2000:]


def n8n_call(context, method, path, body, headers):
    conn = ThroughProxy(f"n8n.{DOMAIN}", 443, timeout=20, context=context)
    try:
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer, answer.read().decode()
    finally:
        conn.close()


def test_an_application_port_is_refused_from_another_host_and_the_proxy_answers(fronted):
    # another lab host: a container on the engine's default bridge, reaching this host at the bridge's gateway
    gateway = json.loads(docker("network", "inspect", "bridge").stdout)[0]["IPAM"]["Config"][0]["Gateway"]
    probe = ("for p in 443 8080 5678 3000 3001; do if timeout 2 bash -c \"</dev/tcp/%s/$p\" 2>/dev/null; "
             "then echo $p open; else echo $p closed; fi; done" % gateway)
    out = docker("run", "--rm", "aiplatform-lab/base:current", "bash", "-c", probe).stdout
    assert "443 open" in out, out
    for port in (8080, 5678, 3000, 3001):
        assert f"{port} closed" in out, out


def test_a_certificate_under_the_threshold_is_a_warn_in_status(fronted):
    p = fronted[0]
    run = p.deploy({"proxy_certificate_warn_days": 3650}, playbook="playbooks/status.yml")
    warns = [e for e in run.of("SERVICE_STATUS", "proxy") if e.get("level") == "WARN"]
    assert any("expires in" in e["message"] and f"openwebui.{DOMAIN}" in e["message"] for e in warns), run.recap()
    ok = p.deploy(playbook="playbooks/status.yml")
    assert not [e for e in ok.of("SERVICE_STATUS", "proxy") if e.get("level") == "WARN"], ok.recap()
