# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""The service roles as data: their defaults and derived variables, layered over the inventory, without running them.

Ansible's precedence is kept: a role's defaults lose to the inventory, its vars/main.yml (derived values, "override
the defaults, not these") win over it. One load per file and run (the loader caches), instead of an include_role
per service.
"""
from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROLES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "roles"))
# Where service roles are looked for, first match wins: the collection's own (a test adds a fixture's folder).
ROLE_DIRS = [ROLES]


def names() -> list[str]:
    """Every service the collection has a role for."""
    return sorted({n for d in ROLE_DIRS if os.path.isdir(d) for n in os.listdir(d) if n != "aiplatform" and has_role(n)})


def role_dir(service: str) -> str:
    """The folder of a service's role (under the collection's roles unless a fixture's folder holds it)."""
    for base in ROLE_DIRS:
        if os.path.isfile(os.path.join(base, service, "defaults", "main.yml")):
            return os.path.join(base, service)
    return os.path.join(ROLES, service)


def has_role(service: str) -> bool:
    return os.path.isfile(os.path.join(role_dir(service), "defaults", "main.yml"))


def _load(loader, path: str) -> dict:
    if not os.path.isfile(path):
        return {}
    try:
        # 2.19: only trusted text is templated; a role's own files are
        data = loader.load_from_file(path, trusted_as_template=True)
    except TypeError:  # before 2.19 every loaded string is a template
        data = loader.load_from_file(path)
    return dict(data or {})


def variables(loader, services: list[str], task_vars: dict) -> dict:
    """task_vars with the defaults (below) and derived vars (above) of every service role among `services`."""
    defaults, derived = {}, {}
    for name in services:
        if not has_role(name):
            continue
        defaults.update(_load(loader, os.path.join(role_dir(name), "defaults", "main.yml")))
        derived.update(_load(loader, os.path.join(role_dir(name), "vars", "main.yml")))
        derived[f"{name}_role_path"] = role_dir(name)
    return {**defaults, **task_vars, **derived}


def options(loader, service: str) -> dict:
    """The options of a service role's argument spec (entry point main)."""
    specs = _load(loader, os.path.join(role_dir(service), "meta", "argument_specs.yml")).get("argument_specs") or {}
    return dict((specs.get("main") or {}).get("options") or {})


def option_problems(loader, templar, service: str, merged: dict) -> list[str]:
    """Type and choice errors of a role's options as the inventory sets them, each naming the variable."""
    spec = options(loader, service)
    values, problems = {}, []
    for name in spec:
        if name in merged:
            try:
                values[name] = templar.template(merged[name])
            except AnsibleError as exc:  # an inventory value that cannot be templated: one problem, not a crash
                problems.append(f"{service}.{name}: cannot be templated ({exc}); fix the variable in the inventory")
    result = ArgumentSpecValidator(spec).validate(values)
    return problems + [f"{service}: {msg}; fix the variable in the inventory" for msg in result.error_messages]


def render_variables(loader, task_vars: dict) -> dict:
    """The variables templates are rendered with: the enabled services' role variables over the task's."""
    return variables(loader, list(task_vars.get("aiplatform_services") or []), task_vars)
