# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""One host's part of the run plan, worked out once by plan_platform and read by every playbook.

Deploy, recover, status, teardown, backup and restore each needed "the services placed here" (and in which order,
and which link networks they need): each task used to work it out again in Jinja. It is computed here, in one place,
from the validated catalog and the dependency waves, and kept as the host's fact `aiplatform_host_plan`.
"""
from __future__ import annotations

from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog as cat


def host_plan(catalog: dict, enabled: list[str], waves: list[list[str]], host: str, groups: dict,
              network_prefix: str, dependencies: dict[str, list[str]] | None = None,
              reached: dict[str, dict] | None = None) -> dict:
    """{enabled, deploying, dependencies, endpoints, waves, teardown, networks, ports, secrets, images} of `host`:

    enabled: every enabled service placed here (what the host should hold: anything else is orphaned);
    deploying: this run's selection placed here, in dependency order; dependencies: what each of those needs healthy
    first (the plan's map, wherever it runs: one graph for deploy and recover); endpoints: `reached` (endpoints());
    waves: the same by dependency wave (a wave with
    nothing here is left out); teardown: the order to remove them (dependents first); networks: the link networks
    the enabled services need here; ports: the published ports of this run's selection here; secrets: the secrets
    each of those needs (generated on the host if missing); images: the images each of those starts.
    """
    here_waves = [w for w in (cat.placed_on(wave, catalog, host, groups) for wave in waves) if w]
    deploying = [name for wave in here_waves for name in wave]
    return {
        "enabled": cat.placed_on(enabled, catalog, host, groups),
        "deploying": deploying,
        "dependencies": {name: list((dependencies or {}).get(name) or []) for name in deploying},
        "endpoints": dict(reached or {}),
        "waves": here_waves,
        "teardown": list(reversed(deploying)),
        "networks": cat.link_network_names(catalog, host, groups, network_prefix),
        "ports": published_ports(deploying, catalog),
        "secrets": {name: catalog[name].get("secrets") or {} for name in deploying},
        "images": {name: sorted({str(i) for i in (catalog[name].get("images") or {}).values()}) for name in deploying},
    }


def published_ports(names: list[str], catalog: dict) -> list[dict]:
    """[{service, port, bind, container}] of the published ports of the services among `names`."""
    out = []
    for name in names:
        svc = catalog.get(name) or {}
        out += [{"service": name, "port": int(port["published"]),
                 "bind": port.get("bind") or "0.0.0.0",  # noqa: S104 - what compose itself binds to without one
                 "container": port.get("container_name") or svc["container"]}
                for port in svc.get("ports") or [] if port.get("published")]
    return out


def endpoints(catalog: dict, names: list[str], host: str, groups: dict, hostvars: dict) -> tuple[dict, list[str]]:
    """How each of `names` (placed on `host`) reaches what it declares it connects to, and the problems.

    {consumer: {provider: {port name: {host, port, local}}}}: the container and its port on the same host (over the
    link's own network), another host's address and published port otherwise. A role reads its providers from here
    (`aiplatform_host_plan.endpoints.<svc>.<provider>.<port>`), so only a declared link has an address, and a link
    that cannot be reached (a provider elsewhere without a published port) fails the plan, before anything changes.
    """
    out: dict[str, dict] = {}
    problems = []
    for name in names:
        mine = out.setdefault(name, {})
        links = (catalog.get(name) or {}).get("connects_to")
        for link in links if isinstance(links, list) else []:
            provider, port = (link.get("service"), link.get("port")) if isinstance(link, dict) else (None, None)
            if provider not in catalog or not isinstance(port, str):
                continue  # a link to a service not enabled, or a malformed one: cat.link_problems reports it
            try:
                mine.setdefault(provider, {})[port] = cat.endpoint(catalog, provider, port, host, groups, hostvars)
            except cat.ConfigError as exc:
                problems.append(f"{name}.connects_to: {exc}")
    return out, problems


def link_endpoints(catalog: dict, enabled: list[str], groups: dict, hostvars: dict) -> tuple[dict, list[str]]:
    """endpoints() of every enabled service on each of its hosts, by host, and the links that cannot be reached from
    one of them: every host's plan finds the same ones (and fails alike), not only the host that runs the consumer."""
    by_host: dict[str, dict] = {}
    problems: list[str] = []
    for name in enabled:
        for host in cat.hosts_of(catalog.get(name) or {}, groups):
            found, more = endpoints(catalog, [name], host, groups, hostvars)
            by_host.setdefault(host, {}).update(found)
            problems += [p for p in more if p not in problems]
    return by_host, problems
