# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recover the unhealthy services on a host by category, bounded, never touching volumes."""
from __future__ import annotations

from ansible.errors import AnsibleError

from ansible_collections.aiplatform.stack.plugins.plugin_utils import recovery as rc
from ansible_collections.aiplatform.stack.plugins.plugin_utils import service_roles
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import PlatformAction
from ansible_collections.aiplatform.stack.plugins.plugin_utils.health_wait import wait_for
from ansible_collections.aiplatform.stack.plugins.plugin_utils.probing import probe_round
from ansible_collections.aiplatform.stack.plugins.plugin_utils.render import link_networks_of, render_service, split_private


class ActionModule(PlatformAction):
    _VALID_ARGS = frozenset(("services", "dependencies", "projects_dir", "pull", "stable_seconds"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        services = list(args.get("services") or [])

        def compose(svc, **module_args):
            module_args.update(project_src=f"{args['projects_dir']}/{svc['name']}", project_name=svc["project"])
            return self._execute_module("aiplatform.stack.compose_project", module_args=module_args, task_vars=task_vars)

        def act(svc, action):
            if action == rc.RESTART:
                return compose(svc, state="restarted")
            if action == rc.RECREATE:
                return compose(svc, state="recreated")
            try:  # reconfigure: render again from the inventory, validate, bring up
                files = render_service(self._templar, self._loader, svc["name"], svc,
                                       service_roles.render_variables(self._loader, task_vars))
            except AnsibleError as exc:
                return {"failed": True, "category": "config", "msg": str(exc)}
            return compose(svc, state="present", **split_private(files), pull=args.get("pull", "missing"),
                           networks=link_networks_of(files))

        def probe(specs, baseline):
            return probe_round(self, task_vars, specs, baseline)

        # with the log tail of what does not answer: a refused login often shows only there
        found = probe_round(self, task_vars, [dict(s, with_logs=True) for s in services]) if services else {}
        recovery = rc.Recovery(act, lambda svc: compose(svc, state="stopped"), probe, wait_for, self.emit,
                               stable_seconds=float(args.get("stable_seconds", 10)), check_mode=self._task.check_mode)
        outcome = recovery.run(services, found, args.get("dependencies") or {})
        failed = sorted(n for n, o in outcome.items() if o["state"] not in rc.BACK)
        result.update(changed=any(o.get("attempts") for o in outcome.values()), services=outcome, events=self.events)
        if failed:
            result.update(failed=True, msg="needs manual action: " + ", ".join(failed))
        return result
