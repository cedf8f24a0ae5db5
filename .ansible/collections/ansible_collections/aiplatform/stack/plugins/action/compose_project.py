# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a service's templates on the controller, run the compose_project module, record deploy events."""
from __future__ import annotations

import time

from ansible.errors import AnsibleError

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import PlatformAction
from ansible_collections.aiplatform.stack.plugins.plugin_utils.render import render_templates, split_private


class ActionModule(PlatformAction):

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        service = args.pop("service", None) or args.get("project_name", "compose")
        templates = args.pop("templates", None)
        host = self.host
        state = args.get("state", "present")

        def emit(event_type, message, **facts):
            self.emit(ev.make_event(event_type, service, message, **facts))

        started = time.monotonic()
        if state == "present":
            emit(ev.DEPLOY_START, f"deploying project {args.get('project_name')} on {host}")
        try:
            if templates:
                rendered = render_templates(self._templar, self._loader, templates, task_vars)
                args.update(split_private(dict(rendered, **(args.get("files") or {}))))
        except AnsibleError as exc:
            emit(ev.CONFIG_INVALID, f"rendering failed: {exc}", category="config")
            emit(ev.DEPLOY_FAIL, "not deployed: configuration could not be rendered", category="config")
            return dict(result, failed=True, msg=str(exc), category="config", events=self.events, service_failed=True)

        res = self._execute_module("aiplatform.stack.compose_project", module_args=args, task_vars=task_vars)
        duration = round(time.monotonic() - started, 3)
        if res.get("failed"):
            category, cause = res.get("category", "unknown"), res.get("cause") or res.get("msg", "")
            if category in ev.SPECIFIC_FAILURE:
                emit(ev.SPECIFIC_FAILURE[category], f"{cause}; fix: {res.get('advice', '')}", category=category)
            emit(ev.DEPLOY_FAIL, f"[{category}] {cause}", category=category, duration=duration)
            res["service_failed"] = True
        elif state == "present":
            what = "started " + ", ".join(res.get("actions", [])) if res.get("changed") else "unchanged, nothing restarted"
            emit(ev.DEPLOY_SUCCESS, f"{what} ({duration:.1f} s)", changed=bool(res.get("changed")), duration=duration,
                 changed_files=res.get("changed_files"))
        elif state == "previous":
            emit(ev.DEPLOY_SUCCESS, f"rolled back to the previous version ({duration:.1f} s)", changed=True,
                 duration=duration, rollback=True)
        elif state == "absent" and res.get("changed"):
            emit(ev.SERVICE_REMOVED, f"removed: {', '.join(res.get('actions', []))}", changed=True, duration=duration)
        elif res.get("changed"):
            emit(ev.DEPLOY_SUCCESS, f"{state}: {', '.join(res.get('actions', []))}", changed=True, duration=duration)
        res["events"] = self.events
        result.update(res)
        return result
