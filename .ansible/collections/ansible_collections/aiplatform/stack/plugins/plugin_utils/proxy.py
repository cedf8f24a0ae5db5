# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""The HTTPS front door as data: which services it routes, on which hostname, and the checks of its inputs.

The proxy (roles/proxy) routes one hostname per service that declares a `route` (plugin_utils/needs.py),
`<service>.<aiplatform_domain>` unless `proxy_hostnames` names another. Its description carries `routes`
({service: route}); the applications read their public URL from there (`public_url`), so a service is told an https
URL only when the proxy routes it.
"""
from __future__ import annotations

import ipaddress
import re

from ansible_collections.aiplatform.stack.plugins.module_utils import inputs
from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog as cat
from ansible_collections.aiplatform.stack.plugins.plugin_utils import service_roles

# Never behind the front door, and why (the fix is in the message).
NEVER_ROUTED = {
    "ollama": "Ollama has no authentication; the applications reach it through LiteLLM",
    "litellm": "LiteLLM's admin UI and key endpoints are never routed; set proxy_litellm_api: true to route its "
               "OpenAI-compatible API (/v1/) on its own hostname",
    "postgres": "a database is never routed",
    "redis": "a database is never routed",
    "proxy": "the proxy cannot route itself",
}
TLS_MODES = ("platform_ca", "acme", "private_acme")
# A DNS name as certificates and Caddy take it: lower-case labels of letters, digits and inner hyphens.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# Caddy sizes and durations, as the Caddyfile parses them.
_SIZE = re.compile(r"[1-9][0-9]{0,5}(?:KB|MB|GB|KiB|MiB|GiB)")
_DURATION = re.compile(r"[1-9][0-9]{0,5}(?:ms|s|m|h)")
# An ACME directory URL: https, a host, a path; nothing Caddy would read as a placeholder, quote or block.
_ACME_URL = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%/-]*)?")
_PEM = re.compile(r"\s*(-----BEGIN CERTIFICATE-----\s*[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*)+")


def dns_name_problem(value: object) -> str | None:
    """Why `value` is not a DNS name the proxy can serve (None when it is)."""
    text = str(value) if isinstance(value, str) else None
    if not text:
        return "must be a DNS name such as platform.example.org"
    if len(text) > 253:
        return "is longer than 253 characters"
    if not all(_LABEL.fullmatch(label) for label in text.split(".")):
        return "must be lower-case labels of letters, digits and hyphens separated by dots (no scheme, port or path)"
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return None
    return "is an IP address; certificates here are issued for names (resolve the names to the address)"


def hostname(service: str, domain: str, hostnames: dict | None) -> str:
    return str((hostnames or {}).get(service) or f"{service}.{domain}")


def url_of(host: str, https_port: int) -> str:
    return f"https://{host}" + ("" if int(https_port) == 443 else f":{int(https_port)}")


def routes(enabled: list, custom: dict, wanted: list, litellm_api: bool, hostnames: dict, domain: str,
           https_port: int) -> dict:
    """{service: {service, port, checked, hostname, url, api_only}} for the services of `wanted` (the filter
    proxy_routes; the plan routes what the services declare, `needs.routes`).

    A service that is not enabled is skipped; one that must never be routed is left to `problems` to report. A
    custom service is reached at its port `main`, a role's at `http`.
    """
    enabled, custom = list(enabled or []), dict(custom or {})
    declared = {name: {} for name in wanted or [] if name in enabled or name in custom}
    return declared_routes(declared, list(custom), litellm_api and "litellm" in enabled, hostnames, domain, https_port)


def declared_routes(declared: dict, custom: list, litellm_api: bool, hostnames: dict, domain: str,
                    https_port: int) -> dict:
    """The routes of `declared` ({service: its `route` declaration: port, host}), in its order, and LiteLLM's API
    when `litellm_api`. A route's hostname: proxy_hostnames' entry, else <host (default the service)>.<domain>."""
    out = {}
    for name, route in declared.items():
        if name in NEVER_ROUTED:
            continue
        host = str((hostnames or {}).get(name) or f"{route.get('host') or name}.{domain}")
        port = route.get("port") or ("main" if name in custom else "http")
        out[name] = _route(name, host, port, https_port, api_only=False)
    if litellm_api:
        host = hostname("litellm", domain, hostnames)
        out["litellm"] = _route("litellm", host, "http", https_port, api_only=True)
    return out


def _route(service: str, host: str, port: str, https_port: int, api_only: bool) -> dict:
    # service and port make it a declared link of the proxy as well (its network to the service); `checked: false`:
    # the proxy is healthy while an application is still starting (it answers 502 for that one meanwhile)
    return {"service": service, "port": port, "checked": False, "hostname": host, "url": url_of(host, https_port),
            "api_only": api_only}


def public_url(catalog: dict, service: str) -> str:
    """The https URL `service` is reached at through the proxy, or '' when the proxy does not route it."""
    route = (((catalog or {}).get("proxy") or {}).get("routes") or {}).get(service)
    return route["url"] if route else ""


def problems(data: dict) -> list[str]:
    """The proxy's own inputs (its description's `validate`), each naming the variable and the fix."""
    out = []
    domain = data.get("domain")
    why = dns_name_problem(domain)
    if why:
        out.append(f"proxy.aiplatform_domain: {inputs._shown(domain)} {why}; set aiplatform_domain")
    wanted = data.get("routes")
    if wanted in (None, ""):
        wanted = []  # the default: every enabled service that declares a route
    elif not isinstance(wanted, list) or not all(isinstance(n, str) for n in wanted):
        out.append("proxy.proxy_routes: must be a list of service names (or null: every service that declares a route)")
        wanted = []
    known = set(data.get("services") or []) | set(data.get("custom") or [])
    for name in wanted:
        if name in NEVER_ROUTED:
            out.append(f"proxy.proxy_routes: {name} is not routed ({NEVER_ROUTED[name]}); remove it from proxy_routes")
        elif name not in known and not service_roles.has_role(name):
            out.append(f"proxy.proxy_routes: '{name}' is no service of this collection or of "
                       f"aiplatform_custom_services; remove it or define it")
    hostnames = data.get("hostnames")
    if not isinstance(hostnames, dict):
        out.append("proxy.proxy_hostnames: must be a mapping of service -> hostname")
        hostnames = {}
    for name, host in sorted(hostnames.items(), key=lambda kv: str(kv[0])):
        why = dns_name_problem(host)
        if why:
            out.append(f"proxy.proxy_hostnames.{name}: {inputs._shown(host)} {why}; fix proxy_hostnames.{name}")
    seen: dict[str, str] = {}
    for name, route in sorted((data.get("effective") or {}).items()):
        other = seen.get(route["hostname"])
        if other:
            out.append(f"proxy.proxy_hostnames: {name} and {other} both get hostname {route['hostname']}; "
                       f"give one of them another in proxy_hostnames")
        seen[route["hostname"]] = name
    out += tls_problems(data.get("tls") or {})
    for field in ("https_port", "http_port"):
        value = data.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
            out.append(f"proxy.proxy_{field}: '{value}' is not a port number 1-65535")
    if data.get("https_port") == data.get("http_port"):
        out.append("proxy.proxy_http_port: must differ from proxy_https_port")
    size = data.get("max_body_size")
    if not isinstance(size, str) or not _SIZE.fullmatch(size):
        out.append(f"proxy.proxy_max_body_size: {inputs._shown(size)} is not a size such as 512MB or 2GB")
    for field, value in sorted((data.get("timeouts") or {}).items()):
        if value not in (None, "") and (not isinstance(value, str) or not _DURATION.fullmatch(value)):
            out.append(f"proxy.proxy_timeouts.{field}: {inputs._shown(value)} is not a duration such as 30s, 5m "
                       f"or 1h (empty: no limit)")
    renew = data.get("renew_interval")
    if renew not in (None, "") and (not isinstance(renew, str) or not _DURATION.fullmatch(renew)):
        out.append(f"proxy.proxy_renew_interval: {inputs._shown(renew)} is not a duration such as 10m or 1h (empty: "
                   "Caddy's own, 10m)")
    warn = data.get("warn_days")
    if not isinstance(warn, int) or isinstance(warn, bool) or warn < 1:
        out.append(f"proxy.proxy_certificate_warn_days: '{warn}' must be a whole number of days, at least 1")
    return out


def tls_problems(tls: dict) -> list[str]:
    mode = tls.get("mode")
    if mode not in TLS_MODES:
        return [f"proxy.proxy_certificates: '{mode}' is not one of {', '.join(TLS_MODES)}; set proxy_certificates"]
    out = []
    email = tls.get("email")
    if email and not inputs.EMAIL.fullmatch(str(email)):
        out.append(f"proxy.proxy_acme_email: {inputs._shown(email)} is not an email address; fix proxy_acme_email")
    if mode == "acme" and not email:
        out.append("proxy.proxy_acme_email: public ACME needs a contact address (expiry notices, account recovery); "
                   "set proxy_acme_email")
    ca, root = tls.get("ca") or "", tls.get("ca_root") or ""
    if mode == "private_acme" and not ca:
        out.append("proxy.proxy_acme_ca: the private ACME mode needs the directory URL of the ACME server, e.g. "
                   "https://acme.lab.example:14000/dir; set proxy_acme_ca")
    if ca and not _ACME_URL.fullmatch(str(ca)):
        out.append(f"proxy.proxy_acme_ca: {inputs._shown(ca)} is not an https URL of an ACME directory (letters, "
                   f"digits and ._~%/- in its path); fix proxy_acme_ca")
    if root and not _PEM.fullmatch(str(root)):
        out.append("proxy.proxy_acme_ca_root: must be the PEM text of the CA certificate(s) that signed the ACME "
                   "server's own certificate (-----BEGIN CERTIFICATE----- ...); fix proxy_acme_ca_root")
    if mode == "platform_ca":
        lifetime = tls.get("lifetime")
        if not isinstance(lifetime, str) or not _DURATION.fullmatch(lifetime) or not lifetime.endswith("h"):
            out.append(f"proxy.proxy_platform_ca_lifetime: {inputs._shown(lifetime)} is not a number of hours "
                       f"such as 4320h")
    return out


def catalog_problems(catalog: dict, groups: dict, hostvars: dict) -> list[str]:
    """What the proxy's routes need of the routed services: reachable from the proxy's host, and not published
    past the proxy on the proxy's own host (a routed application's port binds to loopback or is not published)."""
    proxy = catalog.get("proxy")
    if not proxy:
        return []
    out = []
    try:
        proxy_hosts = cat.hosts_of(proxy, groups)
    except cat.ConfigError:
        return []  # reported by catalog.validate
    if len(proxy_hosts) > 1:
        # one front door: several would each publish 443 and make a CA of their own
        out.append(f"proxy.proxy_host_group: {len(proxy_hosts)} hosts ({', '.join(proxy_hosts)}); the proxy runs on "
                   f"one host: set proxy_host_group to a group of one, e.g. the applications' host")
    for name, route in sorted((proxy.get("routes") or {}).items()):
        svc = catalog.get(name)
        if svc is None:
            continue
        if proxy_hosts:
            try:
                cat.endpoint(catalog, name, route["port"], proxy_hosts[0], groups, hostvars)
            except cat.ConfigError as exc:
                out.append(f"proxy.proxy_routes: {name} cannot be reached from the proxy ({exc})")
                continue
        try:
            same_host = set(cat.hosts_of(svc, groups)) & set(proxy_hosts)
        except cat.ConfigError:
            continue
        for port in svc.get("ports") or []:
            bind = port.get("bind") or "0.0.0.0"  # noqa: S104 (an address compared, not bound)
            if proxy_hosts and not same_host and port.get("name") == route["port"] and _loopback(bind):
                out.append(f"{name}.ports.{port['name']}.bind: the proxy on {proxy_hosts[0]} reaches {name} on "
                           f"another host at its published port, which binds to {bind} there; set "
                           f"{name}_bind_address to that host's address (and let only the proxy's host reach it)")
            if same_host and port.get("published") and not _loopback(bind):
                out.append(f"{name}.ports.{port['name']}.bind: {name} is routed by the proxy but publishes port "
                           f"{port['published']} on {bind}, past the proxy; set {name}_bind_address: 127.0.0.1 or "
                           f"{name}_published_port: null")
    return out


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def caddy_quote(value: object) -> str:
    """`value` as one double-quoted Caddyfile token: no character can end it, open a block or a placeholder.

    The plan has already refused anything that needs this; it is the second layer, as yaml_quote is for compose.
    """
    text = str(value)
    # Caddy 2.6 reads only \" and \<newline> as escapes inside quotes: a backslash cannot be written unchanged
    if any(c in text for c in "\n\r\x00{}\\") or "$" in text:
        raise inputs.InputError(f"{inputs._shown(text)} cannot be written into the Caddyfile (line breaks, braces, "
                                f"backslashes and $ are refused)")
    return '"' + text.replace('"', '\\"') + '"'
