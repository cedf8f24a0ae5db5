# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.aiplatform.stack.plugins.module_utils import catalog as cat
from ansible_collections.aiplatform.stack.plugins.module_utils import inputs
from ansible_collections.aiplatform.stack.plugins.module_utils.waves import DependencyError
from ansible_collections.aiplatform.stack.plugins.module_utils.waves import dependency_waves as _waves


def dependency_waves(dependencies, selected=None, known=None):
    try:
        return _waves(dict(dependencies or {}), list(selected) if selected is not None else None,
                      list(known) if known is not None else None)
    except DependencyError as exc:
        raise AnsibleFilterError(str(exc)) from None


def placed_on(names, catalog, host, groups):
    try:
        return cat.placed_on(list(names), dict(catalog), host if isinstance(host, str) else list(host), dict(groups))
    except cat.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def service_endpoint(catalog, name, port_name, consumer_host, groups, hostvars):
    try:
        return cat.endpoint(dict(catalog), name, port_name, consumer_host, dict(groups), hostvars)
    except cat.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def wiring(names, catalog, host, groups, hostvars):
    try:
        return cat.wiring(list(names), dict(catalog), host, dict(groups), hostvars)
    except cat.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def catalog_problems(catalog, enabled, groups):
    return cat.validate(dict(catalog), list(enabled), dict(groups))


def app_databases(names, catalog, secrets):
    """[{name, owner, password}] for the services among `names` that declare a database."""
    out = []
    for name in names:
        wanted = (catalog.get(name) or {}).get("database") or []
        for db in wanted if isinstance(wanted, list) else [wanted]:
            key = db.get("password_secret", "db_password")
            password = (secrets.get(name) or {}).get(key)
            if not password:
                raise AnsibleFilterError(f"{name}: no generated secret '{key}' for its database {db['name']}")
            out.append({"name": db["name"], "owner": db.get("owner", db["name"]), "password": password,
                        "extensions": list(db.get("extensions") or [])})
    return out


def published_ports(names, catalog):
    """[{service, port, bind, container}] of the published ports of the services among `names`."""
    out = []
    for name in names:
        svc = catalog.get(name) or {}
        for port in svc.get("ports", []):
            if port.get("published"):
                out.append({"service": name, "port": int(port["published"]),
                            "bind": port.get("bind") or "0.0.0.0",  # noqa: S104
                            "container": port.get("container_name") or svc["container"]})
    return out


def custom_services(specs, templates_dir):
    return cat.custom_services(dict(specs or {}), templates_dir)


def compose_specs(names, catalog, base_dir):
    """The projects argument of compose_projects for the services among `names`."""
    return [{"service": n, "project_src": f"{base_dir}/{n}", "project_name": catalog[n]["project"],
             "templates": catalog[n].get("templates") or {}, "probe": catalog[n].get("probe") or None,
             "target": catalog[n].get("target")} for n in names]


def yaml_quote(value, plain=False):
    return inputs.yaml_quote(value, plain=bool(plain))


def env_quote(value):
    try:
        return inputs.env_quote(value)
    except inputs.InputError as exc:
        raise AnsibleFilterError(str(exc)) from None


def env_name(value):
    try:
        return inputs.env_name(value)
    except inputs.InputError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self):
        return {
            "dependency_waves": dependency_waves,
            "placed_on": placed_on,
            "service_endpoint": service_endpoint,
            "catalog_problems": catalog_problems,
            "app_databases": app_databases,
            "published_ports": published_ports,
            "wiring": wiring,
            "compose_specs": compose_specs,
            "custom_services": custom_services,
            "yaml_quote": yaml_quote,
            "env_quote": env_quote,
            "env_name": env_name,
        }
