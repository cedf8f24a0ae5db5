# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from urllib.parse import quote

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.aiplatform.stack.plugins.module_utils import inputs, redis_acl
from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog as cat
from ansible_collections.aiplatform.stack.plugins.plugin_utils import host_plan, proxy


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


def service_secret(catalog, name, key, groups, hostvars):
    try:
        return cat.secret(dict(catalog), name, key, dict(groups), hostvars)
    except cat.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def litellm_key(catalog, app, groups, hostvars):
    try:
        return cat.litellm_key(dict(catalog), app, dict(groups), hostvars)
    except cat.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def wiring(names, catalog, host, groups, hostvars):
    try:
        return cat.wiring(list(names), dict(catalog), host, dict(groups), hostvars)
    except cat.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def link_networks(catalog, host, groups, prefix):
    try:
        return cat.link_networks(dict(catalog), host, dict(groups), prefix)
    except cat.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def link_network_names(catalog, host, groups, prefix):
    try:
        return cat.link_network_names(dict(catalog), host, dict(groups), prefix)
    except cat.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def published_ports(names, catalog):
    """[{service, port, bind, container}] of the published ports of the services among `names`."""
    return host_plan.published_ports(list(names), dict(catalog))


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


def hardening(value, service, overrides=None, per_container=False):
    try:
        return inputs.effective_hardening(str(service), value, overrides, per_container=bool(per_container))
    except inputs.InputError as exc:
        raise AnsibleFilterError(str(exc)) from None


def redis_acl_file(users, secrets):
    try:
        return redis_acl.acl_file(dict(users), dict(secrets))
    except redis_acl.AclError as exc:
        raise AnsibleFilterError(str(exc)) from None


def redis_url(endpoint, user, password, db=0):
    """redis://user:password@host:port/db with user and password percent-encoded (no character left as is)."""
    return "redis://%s:%s@%s:%s/%d" % (quote(str(user), safe=""), quote(str(password), safe=""), endpoint["host"],
                                       int(endpoint["port"]), int(db))


def proxy_routes(enabled, custom, wanted, litellm_api, hostnames, domain, https_port):
    try:  # boolean(), not bool(): "false" from -e proxy_litellm_api=false must not route LiteLLM
        litellm_api = boolean(litellm_api, strict=True)
    except TypeError:
        raise AnsibleFilterError(f"proxy.proxy_litellm_api: {litellm_api!r} is not true or false") from None
    return proxy.routes(list(enabled or []), dict(custom or {}), list(wanted or []), litellm_api,
                        dict(hostnames or {}), str(domain), int(https_port))


def public_url(catalog, service):
    return proxy.public_url(dict(catalog or {}), str(service))


def caddy_quote(value):
    try:
        return proxy.caddy_quote(value)
    except inputs.InputError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self):
        return {
            "placed_on": placed_on,
            "service_endpoint": service_endpoint,
            "published_ports": published_ports,
            "wiring": wiring,
            "link_networks": link_networks,
            "link_network_names": link_network_names,
            "service_secret": service_secret,
            "litellm_key": litellm_key,
            "yaml_quote": yaml_quote,
            "env_quote": env_quote,
            "env_name": env_name,
            "hardening": hardening,
            "redis_acl_file": redis_acl_file,
            "redis_url": redis_url,
            "proxy_routes": proxy_routes,
            "public_url": public_url,
            "caddy_quote": caddy_quote,
        }
