# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan before anything changes: validate the service descriptions and order them into dependency waves."""
from __future__ import annotations

import os

import yaml
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.aiplatform.stack.plugins.module_utils import catalog as cat
from ansible_collections.aiplatform.stack.plugins.module_utils import config_checks
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils.waves import DependencyError, dependency_waves
from ansible_collections.aiplatform.stack.plugins.plugin_utils import live_events

_ROLES = os.path.join(os.path.dirname(__file__), "..", "..", "roles")


def role_options(service: str) -> dict:
    """The options of a service role's main entry point (with their sub-options)."""
    spec_file = os.path.join(_ROLES, service, "meta", "argument_specs.yml")
    if not os.path.exists(spec_file):
        return {}
    with open(spec_file) as fh:
        return ((yaml.safe_load(fh) or {}).get("argument_specs", {}).get("main") or {}).get("options") or {}


def known_variables(service: str) -> set[str]:
    """The variables a service role defines: its argument spec, its derived vars, and its own facts."""
    known = {f"{service}_role_path"}
    spec_file = os.path.join(_ROLES, service, "meta", "argument_specs.yml")
    vars_file = os.path.join(_ROLES, service, "vars", "main.yml")
    if os.path.exists(spec_file):
        with open(spec_file) as fh:
            for entry in (yaml.safe_load(fh) or {}).get("argument_specs", {}).values():
                known.update((entry or {}).get("options", {}))
    if os.path.exists(vars_file):
        with open(vars_file) as fh:
            known.update(yaml.safe_load(fh) or {})
    return known


display = Display()


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("catalog", "services", "only", "dependencies", "strict_variables", "one_at_a_time",
                             "variables_only"))

    def _nested_problems(self, services: list[str], task_vars: dict) -> list[str]:
        """Typos inside dict options, with the closest field: checked before the roles' own validation runs."""
        problems = []
        for name in services:
            options = role_options(name)
            values = {}
            for var in options:
                if var in task_vars and options[var].get("options"):
                    try:
                        values[var] = self._templar.template(task_vars[var])
                    except Exception as exc:  # a value that cannot be templated yet is the roles' spec to judge
                        display.vvv(f"plan_platform: {var} not checked here: {exc}")
            problems += config_checks.option_problems(name, options, values)
        return problems

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        catalog = dict(args.get("catalog") or {})
        enabled = list(args.get("services") or [])
        only = list(args.get("only") or []) or None
        groups = task_vars.get("groups", {})
        host = task_vars.get("inventory_hostname", "")
        deps = {name: list(needs or []) for name, needs in (args.get("dependencies") or {}).items()
                if name in enabled}
        if args.get("variables_only"):
            problems = []
            if args.get("strict_variables", True):
                with_roles = [n for n in enabled if os.path.isdir(os.path.join(_ROLES, n))]
                problems = config_checks.unknown_variables(list(task_vars), {n: known_variables(n) for n in with_roles})
                problems += self._nested_problems(with_roles, task_vars)
            return self._report(result, problems, catalog, enabled, host, None, {})
        problems = cat.validate(catalog, enabled, groups)
        for name in enabled:
            problems += config_checks.service_problems(name, catalog.get(name) or {})
        if args.get("strict_variables", True):
            # only services with a role have variables of their own (custom services are one inventory dict)
            prefixes = {name: known_variables(name) for name in enabled if os.path.isdir(os.path.join(_ROLES, name))}
            problems += config_checks.unknown_variables(list(task_vars), prefixes)
            problems += self._nested_problems(sorted(prefixes), task_vars)
        waves = []
        if not problems:
            try:
                waves = dependency_waves(deps, only, known=enabled)
            except DependencyError as exc:
                problems.append(str(exc))
        if args.get("one_at_a_time"):
            waves = [[name] for wave in waves for name in wave]
        return self._report(result, problems, catalog, enabled, host, waves, deps)

    def _report(self, result, problems, catalog, enabled, host, waves, deps):
        """CONFIG_INVALID (or PORT_CONFLICT) per problem, sent live; the facts of the plan when there is none."""
        events = []
        for problem in problems:
            head = problem.split(":", 1)[0].split(".", 1)[0]
            service = head if head in catalog or head in enabled else "plan"
            # Two services claiming one host port is a port conflict, found before anything runs.
            kind = ev.PORT_CONFLICT if ".published: " in problem and "also claimed by" in problem else ev.CONFIG_INVALID
            event = ev.make_event(kind, service, problem, host=host, category="port" if kind == ev.PORT_CONFLICT else "config")
            event["live"] = live_events.send(self._task, host, event)
            events.append(event)
        if problems:
            return dict(result, failed=True, changed=False, category="config", events=events,
                        msg="invalid platform configuration, nothing was changed:\n- " + "\n- ".join(problems))
        if waves is None:  # variables only
            return dict(result, changed=False, events=events)
        return dict(result, changed=False, events=events, waves=waves,
                    ansible_facts={"aiplatform_waves": waves, "aiplatform_dependency_map": deps,
                                   "aiplatform_deploying": [n for w in waves for n in w]})
