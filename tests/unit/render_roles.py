"""Render a role's templates the way Ansible does (trim_blocks, the collection's filters under their FQCN)."""
import hashlib
import json
import os

import jinja2
import yaml

from ansible_collections.aiplatform.stack.plugins.filter import platform as filters
from ansible_collections.aiplatform.stack.plugins.module_utils import inputs

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def combine(*dicts):
    out = {}
    for d in dicts:
        out.update(d or {})
    return out


def hash_filter(value, kind="sha1"):
    return hashlib.new(kind, str(value).encode()).hexdigest()


def to_bool(value):
    """Ansible's `bool` filter."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    return str(value).strip().lower() in ("yes", "on", "1", "true", "y")


def env(role: str) -> jinja2.Environment:
    # compose, env and config files, not HTML: no autoescape (as in Ansible's own templating)
    e = jinja2.Environment(loader=jinja2.FileSystemLoader(  # noqa: S701
        [os.path.join(ROOT, "roles", role, "templates"), os.path.join(ROOT, "roles", "aiplatform", "templates")]),
        trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    for name, func in filters.FilterModule().filters().items():
        e.filters[f"aiplatform.stack.{name}"] = func
    e.filters.update({"bool": to_bool, "combine": combine, "to_json": json.dumps, "hash": hash_filter,
                      "to_nice_yaml": lambda v, indent=2: yaml.safe_dump(v, indent=indent)})
    return e


PLATFORM = {"aiplatform_network": "aiplatform", "aiplatform_restart_policy": "unless-stopped",
            "aiplatform_log_max_size": "10m", "aiplatform_log_max_file": "3", "aiplatform_bind_address": "127.0.0.1"}


def role_defaults(role: str) -> dict:
    with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as fh:
        return yaml.safe_load(fh) or {}


def with_hardening(role: str, variables: dict) -> dict:
    """`variables` with `<role>_service.hardening` as the role's vars/main.yml derives it (role default, overrides
    over it), when a test gave a description without it."""
    service = variables.get(f"{role}_service")
    if not isinstance(service, dict) or "hardening" in service:
        return variables
    own = variables.get(f"{role}_hardening", role_defaults(role).get(f"{role}_hardening"))
    if own is None:
        return variables
    effective = inputs.effective_hardening(role, own, variables.get("aiplatform_hardening_overrides"),
                                           per_container=role == "dify")
    return dict(variables, **{f"{role}_service": dict(service, hardening=effective)})


def render(role: str, template: str, **variables) -> str:
    return env(role).get_template(template).render(dict(PLATFORM, **with_hardening(role, variables)))
