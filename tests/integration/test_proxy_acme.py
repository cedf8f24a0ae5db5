"""The proxy's private-ACME mode on the real engine (lab images caddy and pebble): its certificate comes from a lab
ACME server, and Caddy renews it alone, without a run or a restart. Traffic stays on this machine."""
import subprocess
import tempfile

import pytest

from .conftest import Platform, docker, wait_until
from .test_proxy import DOMAIN


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
