# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan before anything changes: validate the service descriptions and order them into dependency waves."""
from __future__ import annotations

import os

import yaml
from ansible.errors import AnsibleError
from ansible.utils.display import Display

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils import inputs
from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog as cat
from ansible_collections.aiplatform.stack.plugins.plugin_utils import config_checks, needs, proxy, service_roles
from ansible_collections.aiplatform.stack.plugins.plugin_utils import host_plan as hp
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import PlatformAction
from ansible_collections.aiplatform.stack.plugins.plugin_utils.waves import DependencyError, dependency_waves

display = Display()


def role_options(service: str) -> dict:
    """The options of a service role's main entry point (with their sub-options)."""
    spec_file = os.path.join(service_roles.role_dir(service), "meta", "argument_specs.yml")
    if not os.path.exists(spec_file):
        return {}
    with open(spec_file) as fh:
        return ((yaml.safe_load(fh) or {}).get("argument_specs", {}).get("main") or {}).get("options") or {}


def known_variables(service: str) -> set[str]:
    """The variables a service role defines: its argument spec, its derived vars, and its own facts."""
    known = {f"{service}_role_path"}
    spec_file = os.path.join(service_roles.role_dir(service), "meta", "argument_specs.yml")
    vars_file = os.path.join(service_roles.role_dir(service), "vars", "main.yml")
    if os.path.exists(spec_file):
        with open(spec_file) as fh:
            for entry in (yaml.safe_load(fh) or {}).get("argument_specs", {}).values():
                known.update((entry or {}).get("options", {}))
    if os.path.exists(vars_file):
        with open(vars_file) as fh:
            known.update(yaml.safe_load(fh) or {})
    return known


class ActionModule(PlatformAction):
    _VALID_ARGS = frozenset(("services", "custom_services", "only", "dependencies", "strict_variables",
                             "one_at_a_time", "extra_links", "network"))

    def nested_problems(self, services: list[str], task_vars: dict) -> list[str]:
        """Typos inside dict options as the inventory sets them, with the closest field."""
        problems = []
        for name in services:
            options = role_options(name)
            values = {}
            for var in options:
                if var in task_vars and options[var].get("options"):
                    try:
                        values[var] = self._templar.template(task_vars[var])
                    except AnsibleError as exc:  # a value that cannot be templated yet is the spec's to judge
                        display.vvv(f"plan_platform: {var} not checked here: {exc}")
            problems += config_checks.option_problems(name, options, values)
        return problems

    def describe(self, names: list[str], task_vars: dict) -> tuple[dict, list[str]]:
        """Each service role's description (its `<name>_service` variable), built from the variables of the first
        host that runs it: placement is decided by this host's variables (every host must agree on it), ports,
        bind addresses and the rest by the host the service runs on - set them where that host gets its variables."""
        merged = service_roles.variables(self._loader, names, task_vars)
        templar = self._templar.copy_with_new_env(available_variables=merged)
        here, groups = task_vars.get("inventory_hostname"), task_vars.get("groups") or {}
        hostvars = task_vars.get("hostvars")
        catalog, problems = {}, []
        for name in names:
            problems += service_roles.option_problems(self._loader, templar, name, merged)
            try:
                described = templar.template(merged[f"{name}_service"])
                runner = next(iter(groups.get(described.get("host_group") or "aiplatform") or []), here)
                theirs = hostvars.raw_get(runner) if runner != here and hasattr(hostvars, "raw_get") else None
                if isinstance(theirs, dict):
                    there = service_roles.variables(self._loader, names, dict(task_vars, **theirs))
                    other = self._templar.copy_with_new_env(available_variables=there).template(there[f"{name}_service"])
                    if other.get("host_group") != described.get("host_group"):
                        problems.append(f"{name}.host_group: '{described.get('host_group')}' on {here} but "
                                        f"'{other.get('host_group')}' on {runner}; set {name}_host_group for all hosts")
                    described = other
                catalog[name] = described
            except (AnsibleError, KeyError) as exc:
                problems.append(f"{name}: its description cannot be built: {exc}")
        return catalog, problems

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        (strict, one_at_a_time), failed = self.flags(result, args, strict_variables=True, one_at_a_time=False)
        if failed:
            return failed
        custom = dict(args.get("custom_services") or {})
        listed = list(args.get("services") or [])
        enabled = listed + [name for name in custom if name not in listed]
        roles = [name for name in listed if name not in custom and service_roles.has_role(name)]
        problems = config_checks.removed_variables(list(task_vars))
        problems += self.nested_problems(roles, task_vars) if strict else []
        described, more = self.describe(roles, task_vars)
        catalog, problems = described, problems + more
        catalog.update(cat.custom_services(custom, os.path.join(service_roles.ROLES, "aiplatform", "templates")))
        # what each service declares it needs, handed to its providers (Redis users, LiteLLM keys, proxy routes)
        problems += needs.provide(catalog, enabled)
        problems += cat.add_links(catalog, args.get("extra_links") or {})
        only = list(args.get("only") or []) or None
        if only:
            only = [name for name in only if name in enabled] or None
        groups = task_vars.get("groups", {})
        host = task_vars.get("inventory_hostname", "")
        # each service's own depends_on (a role's or a custom service's), an entry of aiplatform_dependencies over it
        deps = needs.dependencies(catalog, dict(args.get("dependencies") or {}), enabled)
        problems += cat.validate(catalog, enabled, groups)
        problems += proxy.catalog_problems(catalog, groups, task_vars.get("hostvars") or {})
        overrides = task_vars.get("aiplatform_hardening_overrides")
        problems += inputs.hardening_override_problems(self._templar.template(overrides) if overrides else {}, catalog,
                                                       enabled, service_roles.names())
        for name in enabled:
            problems += config_checks.service_problems(name, catalog.get(name) or {})
        if strict:
            # only services with a role have variables of their own (custom services are one inventory dict)
            prefixes = {name: known_variables(name) for name in enabled if service_roles.has_role(name)}
            problems += config_checks.unknown_variables(list(task_vars), prefixes)
        hostvars = task_vars.get("hostvars") or {}
        waves, reached = [], {}
        if not problems:  # a valid catalog: its links can be followed, its graph ordered
            # how each service here reaches its providers (read by the roles: nothing looks them up again)
            by_host, more = hp.link_endpoints(catalog, enabled, groups, hostvars)
            problems += more
            reached = by_host.get(host, {})
        if not problems:
            try:
                waves = dependency_waves(deps, only, known=enabled)
            except DependencyError as exc:
                problems.append(str(exc))
        # every host plans with its own variables; the first one reports, so each problem is said once
        speaks = host == (task_vars.get("ansible_play_hosts") or [host])[0]
        for problem in problems:
            head = problem.split(":", 1)[0].split(".", 1)[0]
            service = head if head in catalog or head in enabled else "plan"
            # Two services claiming one host port is a port conflict, found before anything runs.
            kind = ev.PORT_CONFLICT if ".published: " in problem and "also claimed by" in problem else ev.CONFIG_INVALID
            event = ev.make_event(kind, service, problem, host=host, category="port" if kind == ev.PORT_CONFLICT else "config")
            if speaks:
                self.emit(event)
        if one_at_a_time:
            waves = [[name] for wave in waves for name in wave]
        if problems:
            return dict(result, failed=True, changed=False, category="config", events=self.events,
                        msg="invalid platform configuration, nothing was changed:\n- " + "\n- ".join(problems))
        # this host's part, read by every playbook (hp.host_plan): nothing is placed again in Jinja
        plan = hp.host_plan(catalog, enabled, waves, host, groups, args.get("network") or "aiplatform", deps,
                            reached)
        return dict(result, changed=False, events=self.events, waves=waves,
                    ansible_facts={"aiplatform_catalog": catalog, "aiplatform_enabled": enabled,
                                   "aiplatform_waves": waves, "aiplatform_dependency_map": deps,
                                   "aiplatform_deploying": [n for w in waves for n in w],
                                   "aiplatform_host_plan": plan})
