# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side wait loop: probes through aiplatform.stack.service_probe, reports every attempt live."""
from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils.health_wait import wait_for
from ansible_collections.aiplatform.stack.plugins.plugin_utils import live_events
from ansible_collections.aiplatform.stack.plugins.plugin_utils.probing import probe_round


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("services", "log_lines", "unchanged", "projects_dir"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        unchanged = set(args.get("unchanged") or [])
        services = [dict(s, backoff=dict(s.get("backoff") or {}, initial=0)) if s.get("name") in unchanged else s
                    for s in args.get("services") or []]
        host = task_vars.get("inventory_hostname", "")
        if not services:
            return dict(result, changed=False, services={}, events=[])
        recorded = []

        def emit(event):
            event["host"] = host
            event["live"] = live_events.send(self._task, host, event)
            recorded.append(event)

        def probe(specs, baseline):
            return probe_round(self, task_vars, specs, baseline, int(args.get("log_lines", 20)))

        try:
            outcome = wait_for(services, probe, emit)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        projects_dir = args.get("projects_dir")
        for name, o in sorted(outcome.items()):
            if o["state"] == "crash_loop" and projects_dir:
                # Prevention: a crash-looping container is stopped, not left looping (volumes are kept).
                spec = next(s for s in services if s["name"] == name)
                stop = self._execute_module("aiplatform.stack.compose_project", task_vars=task_vars, module_args={
                    "project_src": f"{projects_dir}/{name}", "project_name": spec["project"], "state": "stopped"})
                o["stopped"] = not stop.get("failed")
                emit(ev.make_event(ev.RESTART_LOOP, name, "containers stopped to end the crash loop; volumes kept"
                                   if o["stopped"] else f"could not stop the crash loop: {stop.get('msg')}",
                                   category="crash_loop"))
        bad = {n: o for n, o in outcome.items() if o["state"] != "healthy"}
        result.update(changed=False, services=outcome, events=recorded)
        if bad:
            result["failed"] = True
            result["msg"] = "; ".join(f"{n}: {o['state']} ({o['detail']})" for n, o in sorted(bad.items()))
            result["category"] = "crash_loop" if any(o["state"] == "crash_loop" for o in bad.values()) else "timeout"
        return result
