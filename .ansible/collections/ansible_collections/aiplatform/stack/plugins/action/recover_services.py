# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recover the unhealthy services on a host by category, bounded, never touching volumes."""
from __future__ import annotations

import time

from ansible.errors import AnsibleError

from ansible_collections.aiplatform.stack.plugins.module_utils import errors as err
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils import recovery as rc
from ansible_collections.aiplatform.stack.plugins.plugin_utils import service_roles
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import PlatformAction
from ansible_collections.aiplatform.stack.plugins.plugin_utils.health_wait import wait_for
from ansible_collections.aiplatform.stack.plugins.plugin_utils.probing import probe_round
from ansible_collections.aiplatform.stack.plugins.plugin_utils.render import link_networks_of, render_service, split_private


class ActionModule(PlatformAction):
    _VALID_ARGS = frozenset(("services", "projects_dir", "pull", "stable_seconds"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        services = list(args.get("services") or [])
        outcome = {}
        emit = self.emit

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

        def stays_healthy(svc, waited):
            """Healthy is not recovered until it stays so: a service that exits a few seconds after starting
            would otherwise be reported recovered."""
            baseline = {c["name"]: c["restart_count"] for c in waited.get("containers", [])}
            deadline = time.monotonic() + float(args.get("stable_seconds", 10))
            while time.monotonic() < deadline:
                time.sleep(1)
                entry = probe([svc], baseline).get(svc["name"], {})
                if entry.get("verdict") == "crash_loop":
                    return False, entry
            return True, {}

        # with the log tail of what does not answer: a refused login often shows only there
        found = probe_round(self, task_vars, [dict(s, with_logs=True) for s in services]) if services else {}
        for svc in services:
            name = svc["name"]
            state, why = rc.diagnose(found.get(name, {}))
            if state == rc.HEALTHY:
                outcome[name] = {"state": "healthy", "attempts": 0}
                continue
            logs, category, attempt = found.get(name, {}).get("logs", []), None, 0
            refused = rc.refused_login(name, why, logs)
            if refused:  # no restart cures a wrong credential: straight to the operator, naming it
                category, why = err.CONFIG, refused
            while True:
                attempt += 1
                action = rc.next_action(state, attempt, category)
                if action == rc.MANUAL:
                    if state == rc.CRASH_LOOP and not self._task.check_mode:
                        compose(svc, state="stopped")
                    cause = f"{why}. " if category and why else ""  # what the last attempt failed on
                    emit(ev.make_event(ev.RECOVERY_NEEDED, name, f"{state} after {attempt - 1} recovery attempt(s): "
                                       f"{cause}{rc.advice(state, category, logs)}", category=category or state))
                    outcome[name] = {"state": state, "attempts": attempt - 1, "why": why}
                    break
                emit(ev.make_event(ev.RECOVERY_START, name, f"{state} ({why}); attempt {attempt}: {action}",
                                   category=state, attempt=attempt, action=action))
                if self._task.check_mode:
                    outcome[name] = {"state": state, "attempts": 0, "would": action}
                    break
                if attempt > 1:  # back off between attempts: give a dependency or the engine time to settle
                    time.sleep(rc.attempt_delay(attempt))
                res = act(svc, action)
                if res.get("failed"):
                    category = res.get("category", "unknown")
                    why = res.get("cause") or res.get("msg", "")
                    continue
                waited = wait_for([svc], probe, emit).get(name, {})
                if waited.get("state") == "healthy":
                    stable, entry = stays_healthy(svc, waited)
                    if not stable:
                        emit(ev.make_event(ev.RESTART_LOOP, name, f"healthy, then {entry.get('detail')}",
                                           category="crash_loop", logs=entry.get("logs", [])))
                        state, why, logs = rc.CRASH_LOOP, entry.get("detail", ""), entry.get("logs", logs)
                        continue
                    emit(ev.make_event(ev.RECOVERY_SUCCESS, name, f"healthy again after {action} (attempt {attempt})",
                                       attempt=attempt, action=action))
                    outcome[name] = {"state": "recovered", "attempts": attempt, "action": action}
                    break
                state = {"crash_loop": rc.CRASH_LOOP, "engine_restarted": rc.STOPPED}.get(waited.get("state"), rc.UNHEALTHY)
                why, logs = waited.get("detail", ""), waited.get("logs", logs)
        failed = sorted(n for n, o in outcome.items() if o["state"] not in ("healthy", "recovered"))
        result.update(changed=any(o.get("attempts") for o in outcome.values()), services=outcome, events=self.events)
        if failed:
            result.update(failed=True, msg="needs manual action: " + ", ".join(failed))
        return result
