# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""What each service declares it needs from the providers, handed to the providers: no provider keeps a list of
its consumers, so a new service is its role and its name in `aiplatform_services` (README "Adding a service").

A consumer declares, in its role's description (`<name>_service` in roles/<name>/vars/main.yml):
  depends_on: [service, ...]       started once these are healthy (an entry in aiplatform_dependencies wins)
  redis_user: {rules: <ACL rules>} a Redis user of its own, named after it (`true`: the Redis role's common rules)
  litellm_key: true                a LiteLLM virtual key of its own (database mode; config-only: the master key)
  route: {port: http, host: name}  a hostname on the proxy, <host>.<aiplatform_domain> (proxy_hostnames wins)
  first_admin: {kind: ...}         its first administrator, set up with one of first_admin.KINDS' protocols
  database, backup.volumes, metrics: {port, path}   read where they are used (app_databases, backup, status)
A provider's description says how it serves them; `provide` fills in what it serves from the consumers':
  redis.acl {default_rules, users (redis_acl_users: overrides), secret}  -> acl_users, secrets user_<name>
  litellm.virtual_keys {target, port, models, secret}                    -> applications, secrets key_<name>
  proxy.route_options {wanted, litellm_api, hostnames, domain, https_port} -> routes, connects_to, certificates
"""
from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.aiplatform.stack.plugins.module_utils import first_admin, redis_acl
from ansible_collections.aiplatform.stack.plugins.plugin_utils import proxy


def declares(svc: dict, field: str) -> bool:
    """Whether a description declares `field`: `true` or a mapping (an empty one too); none, false or '' do not (a
    template's `none` is '' on ansible-core 2.17)."""
    value = (svc or {}).get(field)
    return value is True or isinstance(value, dict)


def _declared(svc: dict, field: str) -> dict:
    value = svc.get(field)
    return dict(value) if isinstance(value, dict) else {}


def consumers(catalog: dict, field: str) -> list[str]:
    """The services of the catalog that declare `field`, in catalog order (the order of aiplatform_services)."""
    return [name for name, svc in catalog.items() if declares(svc, field)]


def dependencies(catalog: dict, seed: dict, enabled: list[str]) -> dict[str, list[str]]:
    """service -> the services it needs healthy first: aiplatform_dependencies' entry (`seed`), else the service's own
    `depends_on`; a custom service's `depends_on` wins (its spec is the inventory's word too). In the seed's order,
    then the enabled order."""
    out = {}
    for name in [n for n in seed if n in enabled] + [n for n in enabled if n not in seed]:
        svc = catalog.get(name) or {}
        own = svc.get("depends_on")
        if name in seed and not ("custom" in svc and isinstance(own, list)):
            out[name] = list(seed[name] or [])
        elif isinstance(own, list):
            out[name] = list(own)
    return out


def redis_users(catalog: dict) -> None:
    """Redis' ACL users: one per consumer that declares `redis_user` (its rules, or the role's common rules), then
    the inventory's `redis_acl_users` over them (a user's rules changed, or a user added for a service that declares
    none, such as a custom service). Sorted by name, as the ACL file is written."""
    redis = catalog.get("redis")
    if not redis:
        return
    acl = _declared(redis, "acl")
    users = {name: _declared(catalog[name], "redis_user").get("rules") or acl.get("default_rules")
             for name in consumers(catalog, "redis_user")}
    overrides = acl.get("users")
    users.update(overrides if isinstance(overrides, dict) else {})
    users = dict(sorted(users.items(), key=lambda kv: str(kv[0])))
    redis["acl_users"] = users
    secret = acl.get("secret") or {"kind": "token", "length": 32}
    redis["secrets"] = dict(redis.get("secrets") or {}, **{redis_acl.secret_name(u): dict(secret) for u in users})
    # checked by the plan like every input (module_utils/inputs.py), under the variable an operator sets
    inputs = dict(redis.get("inputs") or {})
    inputs["acl_users"] = {"redis_acl_users": users}
    redis["inputs"] = inputs


def litellm_keys(catalog: dict) -> None:
    """LiteLLM's virtual keys: one per consumer that declares `litellm_key`, when LiteLLM keeps keys (its
    `virtual_keys` is set in database mode only); none declared, none kept."""
    litellm = catalog.get("litellm")
    if not litellm or not isinstance(litellm.get("virtual_keys"), dict):
        return
    apps = consumers(catalog, "litellm_key")
    spec = dict(litellm["virtual_keys"])
    secret = spec.pop("secret", None) or {"kind": "sk", "length": 40}
    if not apps:
        litellm["virtual_keys"] = None
        return
    litellm["virtual_keys"] = {"target": spec.get("target") or "litellm", "port": spec.get("port"),
                               "applications": apps, "models": list(spec.get("models") or [])}
    litellm["secrets"] = dict(litellm.get("secrets") or {}, **{f"key_{app}": dict(secret) for app in apps})


def routes(catalog: dict) -> list[str]:
    """The proxy's routes: every service that declares `route` (or exactly `proxy_routes` when the inventory sets
    that list), and LiteLLM's API with proxy_litellm_api. Returns the problems of the options."""
    px = catalog.get("proxy")
    if not px:
        return []
    opts = _declared(px, "route_options")
    try:  # boolean(), not bool(): "false" from -e proxy_litellm_api=false must not route LiteLLM
        litellm_api = boolean(opts.get("litellm_api", False), strict=True)
    except TypeError:
        return [f"proxy.proxy_litellm_api: {opts.get('litellm_api')!r} is not true or false"]
    wanted = opts.get("wanted")
    if wanted in (None, ""):
        wanted = consumers(catalog, "route")
    elif not isinstance(wanted, list):
        return []  # reported by proxy.problems (proxy_routes must be a list)
    try:
        https_port = int(opts.get("https_port") or 443)
    except (TypeError, ValueError):
        return []  # reported by proxy.problems (not a port number)
    hostnames = opts.get("hostnames") if isinstance(opts.get("hostnames"), dict) else {}
    declared = {name: _declared(catalog[name], "route") for name in wanted if isinstance(name, str) and name in catalog}
    found = proxy.declared_routes(declared, [n for n in catalog if "custom" in catalog[n]], litellm_api
                                  and "litellm" in catalog, hostnames, str(opts.get("domain")), https_port)
    px["routes"] = found
    # first, as they were listed before the inventory's extra links (aiplatform_extra_links, added after this)
    px["connects_to"] = list(found.values()) + list(px.get("connects_to") or [])
    if isinstance(px.get("certificates"), dict):
        px["certificates"] = dict(px["certificates"], hostnames=[r["hostname"] for r in found.values()])
    if isinstance(px.get("validate"), dict):
        px["validate"] = dict(px["validate"], effective=found)
    return []


def declaration_problems(catalog: dict, enabled: list[str]) -> list[str]:
    """Declarations the providers cannot serve, each naming the service, the field and the fix."""
    problems = []
    for name in enabled:
        svc = catalog.get(name) or {}
        for field in ("redis_user", "route", "metrics"):
            value = svc.get(field)
            if value not in (None, False, "") and not declares(svc, field):
                problems.append(f"{name}.{field}: must be a mapping (or true), got {type(value).__name__}")
        rules = _declared(svc, "redis_user").get("rules")
        if rules is not None:
            problems += redis_acl.rule_problems(f"{name}.redis_user.rules", rules)
        admin = _declared(svc, "first_admin")
        if svc.get("first_admin") and admin.get("kind") not in first_admin.KINDS:
            problems.append(f"{name}.first_admin.kind: '{admin.get('kind')}' is not a setup this collection speaks; "
                            f"one of {', '.join(first_admin.KINDS)}")
        ports = [p.get("name") for p in svc.get("ports") or []]
        for field in ("route", "metrics"):
            port = _declared(svc, field).get("port")
            if port is not None and port not in ports:
                problems.append(f"{name}.{field}.port: {name} has no port named '{port}' (it has: "
                                f"{', '.join(map(str, ports)) or 'none'})")
        path = _declared(svc, "metrics").get("path")
        if declares(svc, "metrics") and not (isinstance(path, str) and path.startswith("/")):
            problems.append(f"{name}.metrics.path: must be an absolute HTTP path such as /metrics")
        depends = svc.get("depends_on")
        if depends is not None and not (isinstance(depends, list) and all(isinstance(d, str) for d in depends)):
            problems.append(f"{name}.depends_on: must be a list of service names")
    return problems


def provide(catalog: dict, enabled: list[str]) -> list[str]:
    """Fill in, in place, what the providers in `catalog` serve to the consumers that declare a need; returns the
    problems of the declarations (nothing is served from a declaration that has one)."""
    problems = declaration_problems(catalog, enabled)
    if problems:
        return problems
    redis_users(catalog)
    litellm_keys(catalog)
    return routes(catalog)
