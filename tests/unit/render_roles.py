"""Render a role's templates the way Ansible does (trim_blocks, the collection's filters under their FQCN)."""
import hashlib
import json
import os

import jinja2
import yaml

from ansible_collections.aiplatform.stack.plugins.filter import platform as filters

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def combine(*dicts):
    out = {}
    for d in dicts:
        out.update(d or {})
    return out


def hash_filter(value, kind="sha1"):
    return hashlib.new(kind, str(value).encode()).hexdigest()


def env(role: str) -> jinja2.Environment:
    # compose, env and config files, not HTML: no autoescape (as in Ansible's own templating)
    e = jinja2.Environment(loader=jinja2.FileSystemLoader(  # noqa: S701
        [os.path.join(ROOT, "roles", role, "templates"), os.path.join(ROOT, "roles", "aiplatform", "templates")]),
        trim_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    for name, func in filters.FilterModule().filters().items():
        e.filters[f"aiplatform.stack.{name}"] = func
    e.filters.update({"combine": combine, "to_json": json.dumps, "hash": hash_filter,
                      "to_nice_yaml": lambda v, indent=2: yaml.safe_dump(v, indent=indent)})
    return e


PLATFORM = {"aiplatform_network": "aiplatform", "aiplatform_restart_policy": "unless-stopped",
            "aiplatform_log_max_size": "10m", "aiplatform_log_max_file": "3", "aiplatform_bind_address": "127.0.0.1"}


def render(role: str, template: str, **variables) -> str:
    return env(role).get_template(template).render(dict(PLATFORM, **variables))
