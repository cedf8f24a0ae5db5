# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One wave: render every project's templates on the controller, one module call brings them up together."""
from __future__ import annotations

import functools
import time

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils.health_wait import brief_containers
from ansible_collections.aiplatform.stack.plugins.plugin_utils import live_events
from ansible_collections.aiplatform.stack.plugins.plugin_utils.deploy_events import record_failure
from ansible_collections.aiplatform.stack.plugins.plugin_utils.render import render_templates, split_private


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        host = task_vars.get("inventory_hostname", "")
        events, results, to_deploy = [], {}, []

        def emit(service, event_type, message, **facts):
            event = ev.make_event(event_type, service, message, host=host, **facts)
            event["live"] = live_events.send(self._task, host, event)
            events.append(event)

        started = time.monotonic()
        for project in args.get("projects") or []:
            name = project["service"]
            emit(name, ev.DEPLOY_START, f"deploying project {project['project_name']} on {host}")
            try:
                files = render_templates(self._templar, self._loader, project.get("templates"),
                                         dict(task_vars, aiplatform_render_service=name))
            except AnsibleError as exc:
                emit(name, ev.CONFIG_INVALID, f"rendering failed: {exc}", category="config")
                emit(name, ev.DEPLOY_FAIL, "not deployed: configuration could not be rendered", category="config")
                results[name] = {"item": name, "changed": False, "service_failed": True, "category": "config"}
                continue
            to_deploy.append({"service": name, "project_src": project["project_src"],
                              "project_name": project["project_name"], **split_private(files),
                              **{k: project[k] for k in ("probe", "target") if project.get(k)}})

        if to_deploy:
            module_args = {"projects": to_deploy, "pull": args.get("pull", "missing"),
                           "networks": args.get("networks") or [], "parallel": args.get("parallel", 4)}
            res = self._execute_module("aiplatform.stack.compose_projects", module_args=module_args, task_vars=task_vars)
            duration = round(time.monotonic() - started, 3)
            if res.get("failed"):
                outcome = [{"name": p["service"], "failed": True, "category": res.get("category", "engine"),
                            "cause": res.get("msg", "")} for p in to_deploy]
            else:
                outcome = res["projects"]
                if res.get("diff"):
                    result["diff"] = res["diff"]
            for o in outcome:
                name = o.pop("name")
                if o.get("failed"):
                    record_failure(functools.partial(emit, name), o.get("category", "unknown"),
                                   o.get("cause") or o.get("msg", ""), o.get("advice", ""), duration)
                    o.pop("failed")
                    results[name] = dict(o, item=name, changed=False, service_failed=True)
                else:
                    what = "started " + ", ".join(o.get("actions", [])) if o.get("changed") else "unchanged, nothing restarted"
                    emit(name, ev.DEPLOY_SUCCESS, f"{what} ({duration:.1f} s)", changed=bool(o.get("changed")),
                         duration=duration, changed_files=o.get("changed_files"))
                    if o.get("unparsed"):
                        result.setdefault("warnings", []).append(
                            f"{name}: compose printed output the parser does not know: {'; '.join(o['unparsed'][:5])}")
                    if o.get("ready"):
                        # unchanged and already answering its probe: healthy without a wait
                        emit(name, ev.HEALTH_SUCCESS, f"healthy, unchanged: {o['ready']['detail']}", attempt=1,
                             duration=0.0, containers=brief_containers(o["ready"]["containers"]))
                    results[name] = dict(o, item=name)
        ordered = [results[p["service"]] for p in args.get("projects") or [] if p["service"] in results]
        # "deployed", not "results": Ansible reserves "results" for loops.
        return dict(result, changed=any(r.get("changed") for r in ordered), deployed=ordered, events=events)
