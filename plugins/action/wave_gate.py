# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Let a wave's services through unless a service they depend on failed (on any host): those are skipped."""
from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils.waves import blocked_by
from ansible_collections.aiplatform.stack.plugins.plugin_utils import live_events


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("services", "failed", "dependencies"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        names = list(args.get("services") or [])
        failed = set(args.get("failed") or [])
        host = task_vars.get("inventory_hostname", "")
        blocked = blocked_by(dict(args.get("dependencies") or {}), names, failed)
        events = []
        for name, dep in sorted(blocked.items()):
            event = ev.make_event(ev.DEPLOY_SKIPPED, name, f"not started: it depends on {dep}, which failed",
                                  host=host, category="dependency", blocked_by=dep)
            event["live"] = live_events.send(self._task, host, event)
            events.append(event)
        go = [n for n in names if n not in blocked]
        return dict(result, changed=False, go=go, blocked=sorted(blocked), events=events,
                    ansible_facts={"aiplatform_wave_go": go})
