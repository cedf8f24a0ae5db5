# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Inventory values that land in compose and env files: validated at plan time, quoted at render time.

Two layers, because either alone is one mistake away from a rewritten compose file:
- `*_problems` functions find hostile or malformed values before anything changes (CONFIG_INVALID, naming the
  service, the field and the fix);
- `yaml_quote` and `env_quote` quote whatever reaches a template so that no character can end the value (a newline
  followed by `privileged: true` stays inside the string).
"""
from __future__ import annotations

import difflib
import ipaddress
import json
import re

from . import redis_acl

# POSIX environment variable names (what a shell and compose's env-file parser agree on).
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# PostgreSQL database and role names we create: lower-case so that quoting never changes their meaning.
PG_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# A login email every application's setup accepts: Flowise's pattern (a dot and a 2+ letter top-level domain), lower
# case (n8n and Open WebUI store it lower-cased, so logins would differ otherwise).
EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}")
# Compose service, project and network names.
COMPOSE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
# a retention period as LiteLLM reads one (30d, 12h, 90m)
PERIOD = re.compile(r"[1-9][0-9]{0,5}[dhm]")
# Values written single-quoted, byte for byte as before (no escapes needed, so generated secrets never churn).
_PLAIN_ENV = re.compile(r"[A-Za-z0-9_@%+=:,./~^-]*")
# Written unquoted (as the templates always did, so files do not change): starts with a letter or _, no spaces, no
# YAML indicator characters, and none of YAML's words for booleans and null.
_PLAIN_YAML = re.compile(r"[A-Za-z_][A-Za-z0-9_./@+-]*(?::[A-Za-z0-9_./@+-]+)*")
_YAML_WORDS = frozenset("y n yes no on off true false null".split())
_NOT_YAML_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


# Linux capability names as compose and Docker take them (capabilities(7), without the CAP_ prefix), up to kernel 6.x.
CAPABILITIES = frozenset("""
    AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND BPF CHECKPOINT_RESTORE CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER
    FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE MAC_ADMIN MAC_OVERRIDE MKNOD NET_ADMIN NET_BIND_SERVICE
    NET_BROADCAST NET_RAW PERFMON SETFCAP SETGID SETPCAP SETUID SYS_ADMIN SYS_BOOT SYS_CHROOT SYS_MODULE SYS_NICE
    SYS_PACCT SYS_PTRACE SYS_RAWIO SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG SYSLOG WAKE_ALARM""".split())
# The fields of one container's hardening (<service>_hardening, aiplatform_hardening_overrides.<container>).
HARDENING_FIELDS = ("enabled", "cap_add", "read_only", "tmpfs", "pids_limit")
_TMPFS_PATH = re.compile(r"/[A-Za-z0-9_./@+-]*")

# The fields of a service described only as data (aiplatform_custom_services).
CUSTOM_FIELDS = ("image", "type", "port", "published_port", "bind", "probe", "environment", "command", "host_group",
                 "backoff", "depends_on", "connects_to", "route")


class InputError(ValueError):
    """A value that cannot be written into a compose or env file safely."""


def yaml_quote(value: object, plain: bool = False) -> str:
    """`value` as a double-quoted YAML scalar: every character that could end it or the line is escaped.

    With `plain`, a value that YAML reads back as the same string without quotes (an image reference, a name) is
    written as it is.

    JSON strings are YAML, except that JSON leaves some characters raw that YAML must see escaped (DEL, C1 controls,
    line and paragraph separators); characters beyond the BMP stay raw (YAML parsers reject JSON's surrogate pairs).
    """
    if plain and _PLAIN_YAML.fullmatch(str(value)) and str(value).lower() not in _YAML_WORDS:
        return str(value)
    text = json.dumps(str(value), ensure_ascii=False)
    return _NOT_YAML_PRINTABLE.sub(lambda m: "\\u%04x" % ord(m.group(0)), text)


def env_quote(value: object) -> str:
    """`value` for a compose env file (`NAME=<this>`), read back literally: no interpolation, no line break.

    Plain values stay single-quoted; anything else is double-quoted with compose's escapes (`\\\\`, `\\"`, `\\$`,
    `\\n`, `\\r`). A NUL byte cannot be in an environment at all.
    """
    text = str(value)
    if "\x00" in text:
        raise InputError("a value holds a NUL byte, which no environment variable can carry")
    if _PLAIN_ENV.fullmatch(text):
        return "'" + text + "'"
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
               .replace("\n", "\\n").replace("\r", "\\r"))
    return '"' + escaped + '"'


_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^:/@\s]*:([^\s/@]+)@", re.IGNORECASE)


def url_passwords(values: list[str]) -> list[str]:
    """The passwords inside URLs among `values` (redis://user:pass@host), as written and decoded."""
    from urllib.parse import unquote

    found = [m for v in values for m in _URL_PASSWORD.findall(v)]
    return sorted(set(found) | {unquote(m) for m in found})


def env_file_values(text: str, key_filter=None) -> list[str]:
    """The values of an env file written with env_quote (for redaction: what compose might echo back).

    key_filter(name) -> bool keeps only the values of the names it accepts.
    """
    values = []
    for line in (text or "").splitlines():
        key, sep, raw = line.partition("=")
        if not sep or line.lstrip().startswith("#") or (key_filter and not key_filter(key.strip())):
            continue
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            values.append(raw[1:-1])
        elif len(raw) >= 2 and raw[0] == raw[-1] == '"':
            values.append(re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), raw[1:-1]))
        elif raw:
            values.append(raw)
    return values


def env_name(name: object) -> str:
    """`name` when it is a POSIX environment variable name, else InputError (never rendered as is)."""
    if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
        raise InputError(f"{_shown(name)} is not an environment variable name (letters, digits, _; not first a digit)")
    return name


def _shown(value: object, limit: int = 40) -> str:
    """A value as it may appear in a message: repr (newlines visible), cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


def env_problems(where: str, mapping: object, fix: str, keys_only: bool = False) -> list[str]:
    """Problems of an environment map (`where` names service and variable): POSIX keys, scalar values, no NUL."""
    if mapping in (None, ""):
        return []
    if not isinstance(mapping, dict):
        return [f"{where}: must be a mapping of NAME: value, got {type(mapping).__name__}; {fix}"]
    problems = []
    for key, value in sorted(mapping.items(), key=lambda kv: str(kv[0])):
        if not isinstance(key, str) or not ENV_NAME.fullmatch(key):
            problems.append(f"{where}[{_shown(key)}]: not an environment variable name (letters, digits and _, "
                            f"not starting with a digit); {fix}")
            continue
        if keys_only:
            continue
        if isinstance(value, (dict, list, tuple)):
            problems.append(f"{where}[{key}]: must be a string, number or boolean, got {type(value).__name__}; "
                            f"quote it as one string")
        elif "\x00" in str(value):
            problems.append(f"{where}[{key}]: holds a NUL byte, which no environment variable can carry; remove it")
    return problems


def field_problems(where: str, value: object, known: tuple[str, ...]) -> list[str]:
    """Unknown keys of a data-only description (a custom service), each with the closest known one."""
    if not isinstance(value, dict):
        return [f"{where}: must be a mapping of {', '.join(known)}"]
    problems = []
    for key in sorted(value, key=str):
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            fix = f"did you mean {close[0]}?" if close else f"one of {', '.join(known)}"
            problems.append(f"{where}.{key}: unknown field; {fix}")
    return problems


def pg_name_problems(where: str, name: object) -> list[str]:
    if isinstance(name, str) and PG_NAME.fullmatch(name):
        return []
    return [f"{where}: {_shown(name)} is not a valid PostgreSQL name; use lower-case letters, digits and _ "
            f"(at most 63, not starting with a digit)"]


def address_problems(where: str, address: object) -> list[str]:
    """A bind address must be an IP address (compose puts it before the port, a name or a colon breaks that)."""
    try:
        ipaddress.ip_address(str(address))
    except ValueError:
        return [f"{where}: {_shown(address)} is not an IP address; set it to one such as 127.0.0.1 or this host's "
                f"address"]
    return []


def port_list_problems(where: str, ports: object) -> list[str]:
    """A list of port numbers (1-65535; digits only when given as text): it is written into a proxy's config."""
    if not isinstance(ports, list) or not ports:
        return [f"{where}: {_shown(ports)} must be a non-empty list of port numbers such as [80, 443]"]
    problems = []
    for port in ports:
        digits = str(port) if isinstance(port, (int, str)) and not isinstance(port, bool) else ""
        if not re.fullmatch(r"[0-9]{1,5}", digits) or not 0 < int(digits) < 65536:
            problems.append(f"{where}: {_shown(port)} is not a port number 1-65535")
    return problems


def _listed(problems: list[str], where: str, value: dict, name: str, expected: str, fix: str) -> list:
    """The list in value[name] (empty when absent); a problem, and an empty list, when it is not a list."""
    items = value.get(name, [])
    if isinstance(items, list):
        return items
    problems.append(f"{where}.{name}: {_shown(items)} must be a list of {expected}; {fix}")
    return []


def hardening_problems(where: str, value: object, fix: str) -> list[str]:
    """Problems of one container's hardening (`where` names service and container, `fix` the variables to change).

    cap_add: Linux capability names (no ALL: that undoes the drop; turn the container's hardening off instead);
    tmpfs: absolute paths, one mount each (no options, no spaces, no ..); pids_limit: a positive integer.
    """
    if not isinstance(value, dict):
        return [f"{where}: must be a mapping of {', '.join(HARDENING_FIELDS)}; {fix}"]
    problems = field_problems(where, value, HARDENING_FIELDS)
    problems = [f"{p}; {fix}" for p in problems]
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"{where}.enabled: {_shown(enabled)} must be true or false; {fix}")
    read_only = value.get("read_only", False)
    if not isinstance(read_only, bool):
        problems.append(f"{where}.read_only: {_shown(read_only)} must be true or false; {fix}")
    for cap in _listed(problems, where, value, "cap_add", "capability names such as [CHOWN]", fix):
        name = cap.upper() if isinstance(cap, str) else cap
        if name == "ALL":
            problems.append(f"{where}.cap_add: ALL gives every capability back; list the ones the image needs, or "
                            f"set enabled: false for this container; {fix}")
        elif not isinstance(name, str) or name not in CAPABILITIES:
            bare = name[4:] if isinstance(name, str) and name.startswith("CAP_") else name
            close = difflib.get_close_matches(str(bare), sorted(CAPABILITIES), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "see capabilities(7), names without CAP_"
            problems.append(f"{where}.cap_add: {_shown(cap)} is not a Linux capability ({hint}); {fix}")
    for path in _listed(problems, where, value, "tmpfs", "absolute paths such as [/var/cache/app]", fix):
        if not isinstance(path, str) or not _TMPFS_PATH.fullmatch(path) or "/../" in path + "/" or path == "/":
            problems.append(f"{where}.tmpfs: {_shown(path)} is not an absolute path inside the container (such as "
                            f"/var/cache/app; no options, spaces or ..); {fix}")
    limit = value.get("pids_limit")
    if "pids_limit" in value and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        problems.append(f"{where}.pids_limit: {_shown(limit)} must be a positive integer (processes and threads); "
                        f"{fix}")
    return problems


def effective_hardening(service: str, value: object, overrides: object, per_container: bool = False) -> dict:
    """{container key: hardening} of a service: its role's `<service>_hardening` with the inventory's
    `aiplatform_hardening_overrides.<key>` over it, field by field.

    The key is the service's name for a one-container service, `<service>-<container>` (as in the container's name
    aiplatform-<key>) for each container of a per-container mapping (Dify).
    """
    if not isinstance(value, dict):
        raise InputError(f"{service}_hardening must be a mapping, got {type(value).__name__}")
    if overrides in (None, ""):
        overrides = {}
    if not isinstance(overrides, dict):
        raise InputError(f"aiplatform_hardening_overrides must be a mapping, got {type(overrides).__name__}")
    own = {f"{service}-{c.replace('_', '-')}": h for c, h in value.items()} if per_container else {service: value}
    out = {}
    for key, base in own.items():
        extra = overrides.get(key) or {}
        out[key] = dict(base, **extra) if isinstance(base, dict) and isinstance(extra, dict) else base
    return out


def hardening_override_problems(overrides: object, catalog: dict, enabled: list[str],
                                others: list[str] = ()) -> list[str]:
    """aiplatform_hardening_overrides names containers of the enabled services (a typo would loosen nothing).

    `others`: services the inventory does not enable in this run; an override for one of them (`<service>` or
    `<service>-<container>`) waits for the run that enables it, where it is checked (one inventory, many runs).
    """
    if overrides in (None, "", {}):
        return []
    if not isinstance(overrides, dict):
        return ["plan.aiplatform_hardening_overrides: must be a mapping of container -> hardening fields"]
    known = sorted(k for name in enabled for k in ((catalog.get(name) or {}).get("hardening") or {}))
    later = [o for o in others if o not in enabled]
    problems = []
    for key in sorted(overrides, key=str):
        if key not in known and not any(str(key) == o or str(key).startswith(f"{o}-") for o in later):
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"one of {', '.join(known)}"
            problems.append(f"plan.aiplatform_hardening_overrides.{key}: not a container of an enabled service; {hint}")
    return problems


def database_problems(catalog: dict, enabled: list[str]) -> list[str]:
    """Databases of the enabled services: valid names, none named like the admin role, none claimed twice.

    A database and its owner role share a name: a database named like PostgreSQL's superuser would hand that
    application the superuser's role, and two applications on one name would share one role and password.
    """
    problems = []
    postgres = catalog.get("postgres") or {}
    admin = (postgres.get("admin") or {}).get("user")
    admin_db = (postgres.get("admin") or {}).get("database")
    claims: dict[str, str] = {}
    for name in enabled:
        wanted = (catalog.get(name) or {}).get("database") or []
        for i, db in enumerate(wanted if isinstance(wanted, list) else [wanted]):
            if not isinstance(db, dict):
                continue
            where = f"{name}.database" + (f"[{i}]" if isinstance(wanted, list) else "")
            fix = f"set {name}_database_name (or its role's database variable) to another name"
            found = pg_name_problems(f"{where}.name", db.get("name"))
            owner = db.get("owner", db.get("name"))
            if owner != db.get("name"):
                found += pg_name_problems(f"{where}.owner", owner)
            problems += found
            if found:
                continue
            for role_or_db in sorted({db["name"], owner}):
                if role_or_db in (admin, admin_db, "postgres", "template0", "template1"):
                    problems.append(f"{where}.name: '{role_or_db}' is PostgreSQL's own (admin role or maintenance "
                                    f"database); {fix}")
            other = claims.get(db["name"])
            if other:
                problems.append(f"{where}.name: database '{db['name']}' is also claimed by {other}; two applications "
                                f"would share one role and password; {fix}")
            claims[db["name"]] = where
    return problems


def service_input_problems(name: str, svc: dict) -> list[str]:
    """Inputs a description declares (`inputs`): environment maps, secret env keys, names, and its port binds."""
    inputs = svc.get("inputs") or {}
    problems = []
    for var, mapping in sorted((inputs.get("env") or {}).items()):
        problems += env_problems(f"{name}.{var}", mapping, f"fix {var} in the inventory")
    for var, per_container in sorted((inputs.get("env_by_container") or {}).items()):
        if not isinstance(per_container, dict):
            problems.append(f"{name}.{var}: must map container names to environment maps")
            continue
        containers = inputs.get("containers")
        for container, mapping in sorted(per_container.items(), key=lambda kv: str(kv[0])):
            if containers is not None and container not in containers:
                problems.append(f"{name}.{var}[{_shown(container)}]: not a container of {name}; one of "
                                f"{', '.join(containers)}")
                continue
            problems += env_problems(f"{name}.{var}.{container}", mapping, f"fix {var}.{container} in the inventory")
    for var, keys in sorted((inputs.get("env_keys") or {}).items()):
        problems += env_problems(f"{name}.{var}", dict.fromkeys(keys or [], ""), f"fix {var} in the vault",
                                 keys_only=True)
    for var, value in sorted((inputs.get("pg_names") or {}).items()):
        problems += pg_name_problems(f"{name}.{var}", value)
    for var, value in sorted((inputs.get("names") or {}).items()):
        if not isinstance(value, str) or not COMPOSE_NAME.fullmatch(value):
            problems.append(f"{name}.{var}: {_shown(value)} is not a valid name; use lower-case letters, digits, _ "
                            f"and - (starting with a letter or digit)")
    for var, value in sorted((inputs.get("emails") or {}).items()):
        if not isinstance(value, str) or not EMAIL.fullmatch(value) or len(value) > 254:
            problems.append(f"{name}.{var}: {_shown(value)} is not an email every application accepts; use lower-case "
                            f"letters, digits and ._%+- before the @ and a domain with a dot (admin@example.com)")
    for var, value in sorted((inputs.get("strings") or {}).items()):
        if not isinstance(value, (str, int, float)) or "\n" in str(value) or "\x00" in str(value):
            problems.append(f"{name}.{var}: {_shown(value)} must be one line of text")
    for var, value in sorted((inputs.get("periods") or {}).items()):
        if value not in ("", None) and (not isinstance(value, str) or not PERIOD.fullmatch(value)):
            problems.append(f"{name}.{var}: {_shown(value)} is not a period; write a number and a unit, d, h or m "
                            f"(30d, 12h), or '' to keep everything")
    for var, spec in sorted((inputs.get("counts") or {}).items()):
        value, least = spec
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            problems.append(f"{name}.{var}: {_shown(value)} must be a whole number of at least {least}")
    for var, value in sorted((inputs.get("acl_users") or {}).items()):
        problems += redis_acl.user_problems(f"{name}.{var}", value)
    for var, value in sorted((inputs.get("ports") or {}).items()):
        problems += port_list_problems(f"{name}.{var}", value)
    for var, keys in sorted((inputs.get("fields") or {}).items()):
        problems += field_problems(f"{name}.{var}", dict.fromkeys(keys), CUSTOM_FIELDS)
    for key, value in sorted((svc.get("hardening") or {}).items()):
        var = f"{name}_hardening" + (f".{key[len(name) + 1:].replace('-', '_')}" if key != name else "")
        problems += hardening_problems(f"{name}.hardening.{key}", value,
                                       f"fix {var} or aiplatform_hardening_overrides.{key} in the inventory")
    for port in svc.get("ports") or []:
        if port.get("published") in (None, "", 0):
            continue
        if port.get("bind") not in (None, ""):
            problems += address_problems(f"{name}.ports.{port.get('name')}.bind ({name}_bind_address)", port["bind"])
        container = port.get("container")
        if not isinstance(container, int) or isinstance(container, bool) or not 0 < container < 65536:
            problems.append(f"{name}.ports.{port.get('name')}.container: {_shown(container)} is not a port number "
                            f"1-65535")
    return problems
