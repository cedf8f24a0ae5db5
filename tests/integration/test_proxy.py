"""The HTTPS front door on the real engine (lab images caddy and pebble): every application through the proxy with
the platform CA, websockets upgraded, n8n told its https webhook URL, application ports closed to other hosts, a
certificate under the threshold shown as WARN by the status, and the private-ACME mode getting its certificate from
a lab ACME server (pebble). Traffic stays on this machine (loopback and the engine's bridges)."""
import http.client
import json
import os
import socket
import ssl
import subprocess
import tempfile

import pytest

from .conftest import SERVICES, Platform, docker, read_head, stored_secrets, wait_until

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


FRONTED = {"proxy_https_port": 443, "proxy_http_port": 80}


@pytest.fixture(scope="module")
def fronted(lab):
    p = Platform(tempfile.mkdtemp(prefix="aiplatform-base-"), services=SERVICES + ["proxy"])
    p.teardown()
    run = p.deploy(FRONTED)
    assert run.rc == 0, run.recap()
    yield p, platform_ca(p.base_dir)
    p.teardown()


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
    again = p.deploy(FRONTED)
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
    assert "Secure" in answer.getheader("Set-Cookie")  # n8n saw https (one proxy hop trusted)
    status, dummy, body = n8n_call(context, "GET", "/rest/settings", None, dict(headers, Cookie=cookie))
    assert status == 200, body
    assert json.loads(body)["data"]["urlBaseWebhook"] == f"https://n8n.{DOMAIN}/"


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


@pytest.fixture
def pebble(lab):
    """A lab ACME server reachable from the proxy as https://pebble:14000/dir (on the proxy's link network to n8n,
    made before the deploy), and the CA of its own certificate."""
    net = "aiplatform-n8n.proxy"
    docker("network", "create", "--label", "aiplatform.stack.network=true", net, check=False)
    docker("rm", "-f", "aiplatform-lab-pebble", check=False)
    docker("run", "-d", "--name", "aiplatform-lab-pebble", "--network", net, "--network-alias", "pebble",
           "aiplatform-lab/pebble:current")
    ca = docker("exec", "aiplatform-lab-pebble", "cat", "/etc/pebble/ca.crt").stdout
    yield ca
    docker("rm", "-f", "aiplatform-lab-pebble", check=False)


def served_certificate(host):
    """The PEM certificate and issuer line the proxy serves for `host` on 127.0.0.1:443."""
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:443", "-servername", host], input="",
                         capture_output=True, text=True, timeout=15, check=False).stdout
    pem = out.partition("-----BEGIN CERTIFICATE-----")[2].partition("-----END CERTIFICATE-----")[0]
    issuer = next((line for line in out.splitlines() if line.startswith("issuer=")), "")
    return pem, issuer


def from_pebble(host, unlike=None):
    """The certificate served for `host` when pebble issued it (and it is not `unlike`), else None."""
    pem, issuer = served_certificate(host)
    return pem if pem and "Pebble" in issuer and pem != unlike else None


def test_private_acme_gets_its_certificate_from_the_lab_acme_server_and_renews_it_alone(lab, pebble):
    # The lab's pebble issues 90-second certificates (lab/images/pebble): Caddy renews one when a third of its
    # lifetime is left, looking every proxy_renew_interval - no ansible run, no restart in between.
    p = Platform(tempfile.mkdtemp(prefix="aiplatform-base-"), services=["postgres", "redis", "n8n", "proxy"])
    p.teardown()
    host = f"n8n.{DOMAIN}"
    try:
        run = p.deploy({"proxy_certificates": "private_acme", "proxy_acme_ca": "https://pebble:14000/dir",
                        "proxy_acme_ca_root": pebble, "proxy_acme_email": "ops@example.org",
                        "proxy_renew_interval": "5s"})
        assert run.rc == 0, run.recap()
        first = wait_until(lambda: from_pebble(host), 120, f"a certificate for {host} from pebble")
        started = docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-proxy").stdout
        renewed = wait_until(lambda: from_pebble(host, unlike=first), 150, f"a renewed certificate for {host} from pebble")
        assert renewed != first
        assert docker("inspect", "-f", "{{.State.StartedAt}}", "aiplatform-proxy").stdout == started  # not restarted
    finally:
        p.teardown()
