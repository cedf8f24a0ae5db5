# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan before anything changes: validate the service descriptions and order them into dependency waves."""
from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.aiplatform.stack.plugins.module_utils import catalog as cat
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils.waves import DependencyError, dependency_waves
from ansible_collections.aiplatform.stack.plugins.plugin_utils import live_events


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("catalog", "services", "only", "dependencies"))

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
        problems = cat.validate(catalog, enabled, groups)
        waves = []
        if not problems:
            try:
                waves = dependency_waves(deps, only, known=enabled)
            except DependencyError as exc:
                problems.append(str(exc))
        events = []
        for problem in problems:
            service = problem.split(".", 1)[0].split(":", 1)[0] if problem.split(":", 1)[0] in catalog or \
                problem.split(".", 1)[0] in catalog else "plan"
            event = ev.make_event(ev.CONFIG_INVALID, service, problem, host=host, category="config")
            event["live"] = live_events.send(self._task, host, event)
            events.append(event)
        if problems:
            return dict(result, failed=True, changed=False, category="config", events=events,
                        msg="invalid platform configuration, nothing was changed:\n- " + "\n- ".join(problems))
        return dict(result, changed=False, events=events, waves=waves,
                    ansible_facts={"aiplatform_waves": waves,
                                   "aiplatform_deploying": [n for w in waves for n in w]})
