"""Container hardening on the real engine, after one whole-platform deploy of the lab (the shared one).

Each real service's container (PostgreSQL, Redis, LiteLLM, n8n, Flowise, Dify's nginx and its SSRF proxy, squid) runs
with every capability dropped but the ones its role (with the lab inventory's overrides) adds, its root filesystem
read-only as configured and its pids limit, and is healthy with them (the deploy's HEALTH_SUCCESS, no restart). Then
proof that the hardening is real and not only in the inspect output: a write to a read-only root is refused while its
tmpfs takes one, and root in a container is refused what a dropped capability would have allowed (signalling another
user's process, changing a file's owner, creating a device node).
"""
import json
import os

import pytest
import yaml

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils import inputs

from .conftest import ROOT, SHARED_SERVICES, docker

# container -> (service, its key in the role's hardening as the plan derives it)
REAL = {
    "aiplatform-postgres": ("postgres", "postgres"),
    "aiplatform-redis": ("redis", "redis"),
    "aiplatform-litellm": ("litellm", "litellm"),
    "aiplatform-n8n": ("n8n", "n8n"),
    "aiplatform-flowise": ("flowise", "flowise"),
    "aiplatform-dify-nginx": ("dify", "dify-nginx"),
    "aiplatform-dify-ssrf-proxy": ("dify", "dify-ssrf-proxy"),
}


def configured(service, key):
    """The hardening the plan gives `key`: the role's default with the lab inventory's overrides over it."""
    with open(os.path.join(ROOT, "roles", service, "defaults", "main.yml")) as fh:
        own = yaml.safe_load(fh)[f"{service}_hardening"]
    with open(os.path.join(ROOT, "inventories", "lab", "group_vars", "aiplatform.yml")) as fh:
        overrides = yaml.safe_load(fh).get("aiplatform_hardening_overrides") or {}
    return inputs.effective_hardening(service, own, overrides, per_container=service == "dify")[key]


def host_config(container):
    return json.loads(docker("inspect", "-f", "{{json .HostConfig}}", container).stdout)


def caps(names):
    """Capability names as the engine may report them (CAP_CHOWN or CHOWN), without the prefix."""
    return sorted(n.upper().removeprefix("CAP_") for n in names or [])


def in_container(container, *argv):
    return docker("exec", container, *argv, check=False)


@pytest.fixture(scope="module")
def deployed(shared_platform):
    return shared_platform.get()[1]


@pytest.mark.parametrize("container", sorted(REAL))
def test_each_real_container_runs_with_only_what_it_needs_and_is_healthy(deployed, container):
    service, key = REAL[container]
    want = configured(service, key)
    hc = host_config(container)
    assert caps(hc.get("CapDrop")) == ["ALL"], hc.get("CapDrop")
    assert caps(hc.get("CapAdd")) == caps(want["cap_add"]), hc.get("CapAdd")
    assert hc.get("ReadonlyRootfs") is want["read_only"]
    # compose writes the short tmpfs syntax as HostConfig.Tmpfs; a tmpfs mount would be in Mounts
    tmpfs = list(hc.get("Tmpfs") or {}) + [m["Target"] for m in hc.get("Mounts") or [] if m.get("Type") == "tmpfs"]
    assert sorted(tmpfs) == sorted(want["tmpfs"])
    assert hc.get("PidsLimit") == want["pids_limit"]
    assert "no-new-privileges:true" in (hc.get("SecurityOpt") or [])
    # healthy with it: the deploy's own verdict, and the container has not restarted since
    assert deployed.of(ev.HEALTH_SUCCESS, service), f"{service} never became healthy"
    state = docker("inspect", "-f", "{{.State.Running}} {{.RestartCount}}", container).stdout.split()
    assert state == ["true", "0"], f"{container}: running, restarts = {state}"


def test_the_deploy_reported_no_error(deployed):
    assert not [e for e in deployed.events if e["level"] == "ERROR"]
    assert sorted({e["service"] for e in deployed.of(ev.HEALTH_SUCCESS)}) == sorted(SHARED_SERVICES)


def test_a_read_only_root_refuses_a_write_and_its_tmpfs_takes_one(deployed):
    refused = in_container("aiplatform-redis", "touch", "/etc/aiplatform-hardening-probe")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr, refused
    assert in_container("aiplatform-redis", "touch", "/tmp/aiplatform-hardening-probe").returncode == 0
    # a node-user image too: n8n's home outside its volume and its tmpfs
    assert in_container("aiplatform-n8n", "touch", "/home/node/aiplatform-probe").returncode != 0
    assert in_container("aiplatform-n8n", "touch", "/home/node/.cache/aiplatform-probe").returncode == 0


def test_root_in_a_container_is_refused_what_a_dropped_capability_allowed(deployed):
    # PostgreSQL keeps CHOWN, SETUID, ... but not KILL: root may not signal the server, which runs as postgres
    signal = in_container("aiplatform-postgres", "sh", "-c", "kill -0 1")
    assert signal.returncode != 0 and "not permitted" in signal.stderr.lower(), signal
    # nor create a device node (MKNOD)
    node = in_container("aiplatform-postgres", "mknod", "/tmp/aiplatform-null", "c", "1", "3")
    assert node.returncode != 0 and "not permitted" in node.stderr.lower(), node
    # LiteLLM runs as root with no capability at all: it may not give its own file to another user (CHOWN)
    chown = in_container("aiplatform-litellm", "sh", "-c", "touch /tmp/aiplatform-x && chown nobody /tmp/aiplatform-x")
    assert chown.returncode != 0 and "not permitted" in chown.stderr.lower(), chown
