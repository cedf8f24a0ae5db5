# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""The services of an inventory as data: placement, endpoints between services, validation of descriptions.

A description (built in each service role's vars/main.yml, `<name>_service`) looks like:
  {name, type, project, host_group, image(s), ports: [{name, container, published, bind}], probe, backoff,
   secrets, templates, database, connects_to, backup,
   and what it needs from the providers: depends_on, redis_user, litellm_key, route, first_admin, metrics
   (plugin_utils/needs.py hands those to the providers: Redis, LiteLLM, the proxy)}
"""
from __future__ import annotations

import re

from ansible_collections.aiplatform.stack.plugins.module_utils import inputs, migrations
from ansible_collections.aiplatform.stack.plugins.module_utils.probes import PROBE_TYPES

SERVICE_TYPES = ("infrastructure", "llm", "application", "workflow", "proxy")
# An image reference: [registry/]name[:tag][@digest]; tag must not be latest (pinned releases only).
_IMAGE_RE = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?"  # registry host or first path part
    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"  # more path parts
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"  # tag, digest (full match: no trailing newline)
)


class ConfigError(ValueError):
    """Bad inventory input: the message names the service, the field and the fix."""


def hosts_of(service: dict, groups: dict) -> list[str]:
    group = service.get("host_group") or "aiplatform"
    if group not in groups:
        raise ConfigError(f"{service['name']}: host_group '{group}' is not an inventory group; "
                          f"add the group or set {service['name']}_host_group")
    return list(groups[group])


def placed_on(names: list[str], catalog: dict, host, groups: dict) -> list[str]:
    """The services among `names` that run on `host` (or on any of a list of hosts)."""
    wanted = {host} if isinstance(host, str) else set(host)
    return [n for n in names if n in catalog and wanted & set(hosts_of(catalog[n], groups))]


def endpoint(catalog: dict, name: str, port_name: str, consumer_host: str, groups: dict, hostvars: dict) -> dict:
    """How a service on `consumer_host` reaches port `port_name` of service `name`.

    Same host: the container name on the shared network and the container port. Another host: that host's
    inventory address and the published port (which must then exist).
    """
    service = catalog[name]
    port = next((p for p in service.get("ports", []) if p["name"] == port_name), None)
    if port is None:
        raise ConfigError(f"{name}: no port named '{port_name}'")
    where = hosts_of(service, groups)
    if not where:
        raise ConfigError(f"{name}: host_group '{service.get('host_group')}' has no hosts")
    if consumer_host in where:
        # a port served by another container of the service (Dify's nginx) names that container
        return {"host": port.get("container_name") or service["container"], "port": int(port["container"]), "local": True}
    target = where[0]
    if not port.get("published"):
        raise ConfigError(f"{name}: port '{port_name}' must be published (set {name}_published_port for all hosts) to be reached "
                          f"from {consumer_host}")
    address = (hostvars.get(target) or {}).get("ansible_host") or target
    return {"host": address, "port": int(port["published"]), "local": False}


def secrets_of(catalog: dict, name: str, groups: dict, hostvars: dict) -> dict:
    """The generated secrets of service `name`, from the host that runs it (loaded there by the secrets step)."""
    where = hosts_of(catalog[name], groups)
    if not where:
        raise ConfigError(f"{name}: host_group '{catalog[name].get('host_group')}' has no hosts")
    return dict(((hostvars.get(where[0]) or {}).get("aiplatform_secrets") or {}).get(name) or {})


def secret(catalog: dict, name: str, key: str, groups: dict, hostvars: dict) -> str:
    """One secret of service `name` for a consumer (a Redis password, LiteLLM's key), wherever `name` runs."""
    value = secrets_of(catalog, name, groups, hostvars).get(key)
    if not value:
        raise ConfigError(f"{name}: no secret '{key}' loaded on {hosts_of(catalog[name], groups)[0]}; "
                          f"deploy {name} with its consumers (the secrets step runs on its host first)")
    return value


def litellm_key(catalog: dict, app: str, groups: dict, hostvars: dict) -> str:
    """The key `app` calls LiteLLM with: its own virtual key (key_<app>) when LiteLLM keeps keys (database mode),
    otherwise LiteLLM's master key (config-only: nowhere to keep another)."""
    keys = (catalog.get("litellm") or {}).get("virtual_keys") or {}
    return secret(catalog, "litellm", f"key_{app}" if app in (keys.get("applications") or []) else "master_key",
                  groups, hostvars)


def virtual_keys(catalog: dict, name: str, secrets_dir: str, groups: dict, hostvars: dict) -> dict | None:
    """What the host needs to register the applications' virtual keys in LiteLLM `name` (its `virtual_keys`), or None."""
    spec = catalog[name].get("virtual_keys")
    if not spec or not spec.get("applications"):
        return None
    keys = [{"alias": app, "key": secret(catalog, name, f"key_{app}", groups, hostvars),
             "models": list(spec.get("models") or [])} for app in spec["applications"]]
    return {"target": spec.get("target") or name, "port": int(spec["port"]),
            "master_key": secret(catalog, name, "master_key", groups, hostvars), "applications": keys,
            "secrets_file": f"{secrets_dir}/{name}.json"}


def custom_services(specs: dict, templates_dir: str) -> dict:
    """Descriptions of services defined only as data in the inventory (aiplatform_custom_services).

    spec: {image, type (application), port (container), published_port, bind, probe, environment, host_group,
    backoff, depends_on, connects_to ([{service, port}]: what it may reach), route (true: behind the proxy)}.
    They share one generic compose template.
    """
    out = {}
    for name, spec in sorted((specs or {}).items()):
        spec = dict(spec or {})
        port = spec.get("port")
        out[name] = {
            "name": name, "type": spec.get("type", "application"), "project": f"aiplatform-{name}",
            "container": f"aiplatform-{name}", "host_group": spec.get("host_group", "aiplatform"),
            "images": {name: spec.get("image")},
            "ports": [{"name": "main", "container": port, "published": spec.get("published_port"),
                       "bind": spec.get("bind")}] if port else [],
            "probe": spec.get("probe") or ({"type": "tcp", "port": port} if port else {}),
            "backoff": spec.get("backoff") or {}, "secrets": {},
            "templates": {"compose.yml": {"src": f"{templates_dir}/custom_compose.yml.j2", "mode": "0644"}},
            "custom": {"environment": spec.get("environment") or {}, "command": spec.get("command")},
            "depends_on": list(spec.get("depends_on") or []),
            # route: true puts it behind the proxy at its port main (README "Exposing the platform")
            "route": {"port": "main"} if spec.get("route") is True else None,
            # its declared links: a network to each provider on its host, and the wiring check
            "connects_to": list(spec.get("connects_to") or []),
            "inputs": {"env": {f"aiplatform_custom_services.{name}.environment": spec.get("environment") or {}},
                       "names": {f"aiplatform_custom_services.{name}": name},
                       "fields": {f"aiplatform_custom_services.{name}": sorted(spec, key=str)}},
        }
    return out


def app_databases(names: list[str], catalog: dict, secrets: dict) -> list[dict]:
    """[{name, owner, password, extensions}] for the services among `names` that declare a database.

    secrets: {service: its generated secrets}; a database's password is the secret its description names.
    """
    out = []
    for name in names:
        wanted = (catalog.get(name) or {}).get("database") or []
        for db in wanted if isinstance(wanted, list) else [wanted]:
            key = db.get("password_secret", "db_password")
            password = (secrets.get(name) or {}).get(key)
            if not password:
                raise ConfigError(f"{name}: no generated secret '{key}' for its database {db['name']}")
            out.append({"name": db["name"], "owner": db.get("owner", db["name"]), "password": password,
                        "extensions": list(db.get("extensions") or [])})
    return out


def wiring(names: list[str], catalog: dict, host: str, groups: dict, hostvars: dict) -> list[dict]:
    """For the connectivity check: each service's container and the endpoints of what it connects to."""
    out = []
    for name in names:
        svc = catalog.get(name) or {}
        # `checked: false`: a link the service is healthy without (LiteLLM -> Ollama): its network is made, it is
        # not a reason to fail the service's deploy
        links = [link for link in svc.get("connects_to") or []
                 if link.get("service") in catalog and link.get("checked", True)]
        if not links:
            continue
        endpoints = []
        for link in links:
            ep = endpoint(catalog, link["service"], link["port"], host, groups, hostvars)
            endpoints.append({"name": link["service"], "host": ep["host"], "port": ep["port"]})
        out.append({"name": name, "container": svc["container"], "endpoints": endpoints})
    return out


def migrations_problems(name: str, svc: dict) -> list[str]:
    """A `migrations` declaration the upgrade can read: a known kind, a plain table, in a database of the service's."""
    spec = svc.get("migrations") or {}
    if not spec:
        return []
    if not isinstance(spec, dict) or spec.get("kind") not in migrations.KINDS:
        return [f"{name}.migrations.kind: one of {', '.join(sorted(migrations.KINDS))} (where the application records "
                f"the migrations it ran)"]
    try:
        migrations.query(spec)
    except ValueError as exc:
        return [f"{name}.{exc}"]
    if not spec.get("database") and not isinstance(svc.get("database"), dict):
        return [f"{name}.migrations.database: name the database that holds the records (the service has "
                f"{'several' if svc.get('database') else 'none'})"]
    return []


def validate(catalog: dict, enabled: list[str], groups: dict) -> list[str]:
    """Every problem of the enabled services' descriptions, each naming service, field and fix."""
    problems = inputs.database_problems(catalog, enabled) + link_problems(catalog, enabled)
    claims: dict[tuple, str] = {}
    for name in enabled:
        svc = catalog.get(name)
        if svc is None:
            problems.append(f"{name}: enabled in aiplatform_services but no role describes it; "
                            f"remove it from aiplatform_services or add roles/{name}")
            continue
        if svc.get("type") not in SERVICE_TYPES:
            problems.append(f"{name}.type: '{svc.get('type')}' is not one of {', '.join(SERVICE_TYPES)}")
        for field, image in sorted((svc.get("images") or {}).items()):
            if not isinstance(image, str) or not _IMAGE_RE.fullmatch(image):
                problems.append(f"{name}.images.{field}: '{image}' is not a valid image reference; "
                                f"set {name}_image to name:tag")
            elif image.rsplit("/", 1)[-1].split("@")[0].endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]:
                problems.append(f"{name}.images.{field}: '{image}' floats; pin a release tag in {name}_image")
        problems += inputs.service_input_problems(name, svc)
        problems += migrations_problems(name, svc)
        probe = svc.get("probe") or {}
        if probe.get("type") not in PROBE_TYPES:
            problems.append(f"{name}.probe.type: '{probe.get('type')}' is not one of {', '.join(PROBE_TYPES)}")
        for i, part in enumerate(probe.get("probes") or [] if probe.get("type") == "all" else []):
            if part.get("type") not in PROBE_TYPES or part.get("type") == "all" or not part.get("target"):
                problems.append(f"{name}.probe.probes[{i}]: each needs a target (compose service) and a type among "
                                f"{', '.join(t for t in PROBE_TYPES if t != 'all')}")
        try:
            where = hosts_of(svc, groups)
        except ConfigError as exc:
            problems.append(str(exc))
            where = []
        for port in svc.get("ports", []):
            published = port.get("published")
            if published in (None, "", 0):
                continue
            if not isinstance(published, int) or not 0 < published < 65536:
                problems.append(f"{name}.ports.{port['name']}.published: '{published}' is not a port number 1-65535")
                continue
            for host in where:
                key = (host, port.get("bind", "127.0.0.1"), published)
                wild = (host, "0.0.0.0", published)  # noqa: S104 (an address compared, not bound)
                other = claims.get(key) or claims.get(wild)
                if other:
                    problems.append(f"{name}.ports.{port['name']}.published: port {published} on {host} is also "
                                    f"claimed by {other}; give one of them another port")
                claims[key] = f"{name}.{port['name']}"
    return problems


def link_network(prefix: str, provider: str, consumer: str) -> str:
    """The network of one declared link on a host. Service names never hold a dot, so the name says both ends."""
    return f"{prefix}-{provider}.{consumer}"


def local_links(catalog: dict, host: str, groups: dict) -> list[tuple[str, dict]]:
    """(consumer, link) for every declared link whose two ends both run on `host` (sorted, no duplicates).

    A link to a service that is not enabled, or that runs on another host (reached at its published port on that
    host's address), needs no network here."""
    out, seen = [], set()
    for consumer in sorted(catalog):
        if host not in hosts_of(catalog[consumer], groups):
            continue
        for link in catalog[consumer].get("connects_to") or []:
            provider = link.get("service")
            if provider == consumer or provider not in catalog or (consumer, provider) in seen:
                continue
            if host in hosts_of(catalog[provider], groups):
                seen.add((consumer, provider))
                out.append((consumer, link))
    return out


def link_networks(catalog: dict, host: str, groups: dict, prefix: str) -> dict[str, dict[str, dict[str, list[str]]]]:
    """{service: {container: {network: aliases}}}: the link networks each container of the services on `host` joins.

    One network per link (consumer -> provider), so two consumers of one provider share none and cannot reach each
    other. The provider's container (the one serving the linked port) joins it with the service name as alias (its
    container name resolves too, which is what consumers are configured with); the consumer's containers - its
    description's `link_containers`, default its main container - join it without one.
    """
    out: dict[str, dict[str, dict[str, list[str]]]] = {}
    for consumer, link in local_links(catalog, host, groups):
        provider = catalog[link["service"]]
        port = next((p for p in provider.get("ports") or [] if p.get("name") == link.get("port")), None)
        if port is None:
            raise ConfigError(f"{consumer}.connects_to: {link['service']} has no port named '{link.get('port')}'")
        net = link_network(prefix, link["service"], consumer)
        served_by = port.get("container_name") or provider["container"]
        out.setdefault(link["service"], {}).setdefault(served_by, {})[net] = [link["service"]]
        svc = catalog[consumer]
        for container in svc.get("link_containers") or [svc["container"]]:
            out.setdefault(consumer, {}).setdefault(container, {})[net] = []
    return out


def link_network_names(catalog: dict, host: str, groups: dict, prefix: str) -> list[str]:
    """The link networks `host` needs for the services the catalog places on it (sorted)."""
    return sorted({link_network(prefix, link["service"], consumer) for consumer, link in local_links(catalog, host, groups)})


def link_problems(catalog: dict, enabled: list[str]) -> list[str]:
    """Declared links that cannot be made: each must name a service and one of its ports."""
    problems = []
    for name in enabled:
        for i, link in enumerate((catalog.get(name) or {}).get("connects_to") or []):
            if not isinstance(link, dict) or not link.get("service") or not link.get("port"):
                problems.append(f"{name}.connects_to[{i}]: must be {{service: <name>, port: <port name>}}")
                continue
            provider = catalog.get(link["service"])
            if provider is None:
                continue  # a service that is not enabled: nothing to connect to (the consumer's own choice)
            names = [p.get("name") for p in provider.get("ports") or []]
            if link["port"] not in names:
                problems.append(f"{name}.connects_to[{i}]: {link['service']} has no port named '{link['port']}' "
                                f"(it has: {', '.join(map(str, names)) or 'none'})")
    return problems


def add_links(catalog: dict, extra: dict) -> list[str]:
    """Add the inventory's extra links (aiplatform_extra_links: {consumer: [{service, port}]}) to the consumers'
    `connects_to`, in place; returns the problems (an unknown consumer, a link that is not a mapping)."""
    problems = []
    if not isinstance(extra, dict):
        return ["plan.aiplatform_extra_links: must be a mapping of service -> [{service, port}]"]
    for consumer, links in sorted(extra.items(), key=lambda kv: str(kv[0])):
        if consumer not in catalog:
            problems.append(f"plan.aiplatform_extra_links.{consumer}: not an enabled service; enable it or remove "
                            f"the entry")
            continue
        if not isinstance(links, list) or not all(isinstance(link, dict) for link in links):
            problems.append(f"plan.aiplatform_extra_links.{consumer}: must be a list of {{service, port}}")
            continue
        own = list(catalog[consumer].get("connects_to") or [])
        catalog[consumer]["connects_to"] = own + [dict(link) for link in links if dict(link) not in own]
    return problems
