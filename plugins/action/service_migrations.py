# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The applications' migration records, read on the PostgreSQL host before and after an upgrade; the comparison and
its events come from the host (module_utils/migrations.py) and go out live from here."""
from __future__ import annotations

from ansible_collections.aiplatform.stack.plugins.module_utils import migrations
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import PlatformAction


class ActionModule(PlatformAction):
    _VALID_ARGS = frozenset(("catalog", "services", "before", "rolled_back", "snapshot"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        catalog = dict(args.get("catalog") or {})
        wanted = migrations.specs(catalog, list(args.get("services") or []))
        if not wanted:
            return dict(result, changed=False, records={}, migrated={}, events=[])
        postgres = catalog.get("postgres") or {}
        module_args = {"container": postgres.get("container", "aiplatform-postgres"),
                       "admin_user": (postgres.get("admin") or {}).get("user", "postgres"), "services": wanted,
                       "before": dict(args.get("before") or {}), "rolled_back": list(args.get("rolled_back") or []),
                       "snapshot": str(args.get("snapshot") or "")}
        try:
            res = self._execute_module("aiplatform.stack.service_migrations", module_args=module_args,
                                       task_vars=task_vars)
        finally:
            self.cleanup()
        res.pop("invocation", None)
        for event in res.pop("events", []) or []:
            self.emit(event)
        return dict(result, **res, events=self.events)
