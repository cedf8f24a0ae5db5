"""Networks follow the declared links, on the real engine, after one whole-platform deploy (n8n in queue mode).

From inside each platform container's network namespace, a TCP connect to every other service's port - by service
name, by container name and by each of the target's addresses: a declared link connects, every other pair is refused
or unreachable (name not resolved, connection refused or dropped between bridges). Containers of one service (Dify's)
talk among themselves and are not judged here. Short timeouts, every source at once: well under a minute.
Only the platform's own containers are addressed: nothing here sends a packet off the machine.
"""
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import connectivity as cn

from .conftest import docker

# container -> (service, port it serves or None); the platform's long-running containers (one-shot jobs have exited)
CONTAINERS = {
    "aiplatform-postgres": ("postgres", 5432), "aiplatform-redis": ("redis", 6379),
    "aiplatform-ollama": ("ollama", 11434), "aiplatform-litellm": ("litellm", 4000),
    "aiplatform-n8n": ("n8n", 5678), "aiplatform-flowise": ("flowise", 3000),
    "aiplatform-anythingllm": ("anythingllm", 3001), "aiplatform-openwebui": ("openwebui", 8080),
    "aiplatform-dify-api": ("dify", 5001), "aiplatform-dify-worker": ("dify", None),
    "aiplatform-dify-worker-beat": ("dify", None), "aiplatform-dify-web": ("dify", 3000),
    "aiplatform-dify-plugin-daemon": ("dify", 5002), "aiplatform-dify-nginx": ("dify", 80),
    "aiplatform-dify-sandbox": ("dify", 8194), "aiplatform-dify-ssrf-proxy": ("dify", 3128),
}
# consumer container -> the services it declares a link to (the roles' connects_to with the lab's settings);
# the provider's side of a link is the container serving the linked port
DIFY_LINKS = {"postgres", "redis", "litellm"}
LINKS = {
    "aiplatform-litellm": {"redis", "ollama"},  # the lab runs LiteLLM config-only: no database link
    "aiplatform-n8n": {"postgres", "redis"},
    "aiplatform-flowise": {"postgres", "litellm"},
    "aiplatform-anythingllm": {"litellm"},
    "aiplatform-openwebui": {"postgres", "redis", "litellm"},
    "aiplatform-dify-api": DIFY_LINKS, "aiplatform-dify-worker": DIFY_LINKS,
    "aiplatform-dify-worker-beat": DIFY_LINKS, "aiplatform-dify-plugin-daemon": DIFY_LINKS,
}
PROVIDERS = {"postgres": "aiplatform-postgres", "redis": "aiplatform-redis", "ollama": "aiplatform-ollama",
             "litellm": "aiplatform-litellm"}
TIMEOUT = 0.7


@pytest.fixture(scope="module")
def deployed(shared_platform):
    return shared_platform.get()[0]  # n8n in queue mode (SHARED_VARS)


def inspect(container):
    return json.loads(docker("inspect", container).stdout)[0]


def addresses(doc):
    return sorted(n["IPAddress"] for n in doc["NetworkSettings"]["Networks"].values() if n.get("IPAddress"))


def declared(source, target):
    """A link from `source` (a container) to `target` (a container serving a port) is declared."""
    return any(PROVIDERS.get(service) == target for service in LINKS.get(source, set()))


def provides_to(provider, consumer):
    """`provider` serves a link `consumer` declared (the same pair, seen from its other end)."""
    return declared(consumer, provider)


def probes_from(source, docs):
    """[(target, how, host, port)] for every other service's port, by name and by address."""
    own = CONTAINERS[source][0]
    out = []
    for target, (service, port) in CONTAINERS.items():
        if port is None or service == own:
            continue
        names = [target] + ([service] if PROVIDERS.get(service) == target else [])
        out += [(target, "name", name, port) for name in names]
        out += [(target, "address", address, port) for address in addresses(docs[target])]
    return out


def connects(pid, probes):
    """cn.check of each probe from inside the namespace of `pid`, all at once (threads inherit the namespace)."""
    def run_all():
        with ThreadPoolExecutor(max_workers=32) as pool:
            return list(pool.map(lambda p: cn.check(p[2], p[3], timeout=TIMEOUT), probes))
    return cn.call_in_netns(pid, run_all)


def test_every_declared_link_connects_and_every_other_pair_is_refused(deployed):
    docs = {name: inspect(name) for name in CONTAINERS}
    stopped = [name for name, doc in docs.items() if not doc["State"]["Running"]]
    assert not stopped, f"not running: {stopped}"
    plans = {source: probes_from(source, docs) for source in CONTAINERS}
    with ThreadPoolExecutor(max_workers=len(plans)) as pool:
        found = dict(zip(plans, pool.map(lambda s: connects(docs[s]["State"]["Pid"], plans[s]), plans), strict=True))
    missing, leaking = [], []
    for source, probes in plans.items():
        by_target = {}
        for (target, how, host, port), result in zip(probes, found[source], strict=True):
            by_target.setdefault(target, []).append((how, host, port, result))
        for target, tries in by_target.items():
            reached = [f"{how} {host}:{port}" for how, host, port, r in tries if r["ok"]]
            if declared(source, target):
                # its configured name (the container name) must connect; other names or addresses may too
                if not any(r["ok"] for how, host, dummy, r in tries if host == target):
                    missing.append(f"{source} -> {target}: " + "; ".join(r["detail"] for *dummy, r in tries))
            elif reached and not provides_to(source, target):
                # a link's network joins its two ends, so the provider sees its consumer too: the same pair
                # (bridges have no direction); any other pair must not connect
                leaking.append(f"{source} -> {target}: {', '.join(reached)}")
    assert not missing and not leaking, ("declared links that do not connect:\n" + "\n".join(missing)
                                         + "\nundeclared pairs that connect:\n" + "\n".join(leaking))


def test_a_provider_keeps_its_service_name_on_each_link_network(deployed):
    doc = inspect("aiplatform-postgres")
    nets = doc["NetworkSettings"]["Networks"]
    assert nets and all(name.startswith("aiplatform-postgres.") for name in nets), sorted(nets)
    assert all("postgres" in (n.get("Aliases") or []) or "postgres" in (n.get("DNSNames") or []) for n in nets.values())
    # one network per consumer: two consumers of PostgreSQL never share one
    # (the lab runs LiteLLM config-only: no link to PostgreSQL)
    assert sorted(nets) == sorted(f"aiplatform-postgres.{c}" for c in ("dify", "flowise", "n8n", "openwebui"))


def test_a_second_deploy_changes_nothing(deployed):
    again = deployed.deploy()
    assert again.rc == 0 and again.recap()["changed"] == 0, again.stdout[-3000:]
    # that a teardown leaves no platform network is checked where the shared platform ends: test_backup_restore's purge
