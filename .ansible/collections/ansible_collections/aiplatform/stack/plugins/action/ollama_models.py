# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pull a service's models step by step, with a progress event after each step and a deadline over all."""
from __future__ import annotations

import time

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils.model_pull import percent
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import PlatformAction


class ActionModule(PlatformAction):
    _VALID_ARGS = frozenset(("service", "container", "port", "models", "budget", "timeout"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        service = args.get("service") or "ollama"
        module_args = {"container": args["container"], "port": int(args.get("port", 11434)),
                       "models": list(args.get("models") or []), "budget": float(args.get("budget", 10))}
        deadline = time.monotonic() + float(args.get("timeout", 1800))
        pulled, failed = [], {}

        def emit(kind, message, **facts):
            self.emit(ev.make_event(kind, service, message, **facts))

        first = None
        pulling: set[str] = set()
        try:
            while True:
                step = self._execute_module("aiplatform.stack.ollama_models", module_args=module_args,
                                            task_vars=task_vars)
                if step.get("failed"):
                    emit(ev.MODEL_PULL_FAIL, step.get("msg", "model pull failed"), category=step.get("category", "dependency"))
                    return dict(result, failed=True, changed=bool(pulled), msg=step.get("msg"), events=self.events,
                                pulled=pulled, missing=first or [], failed_models=module_args["models"])
                first = first if first is not None else step["missing"]
                # a pull whose last step ended just before Ollama said "success" shows up as present now
                for model in sorted(pulling - set(step["missing"])):
                    pulled.append(model)
                    emit(ev.MODEL_READY, f"model {model} pulled")
                pulling = set()
                for model, prog in sorted(step["progress"].items()):
                    if prog["state"] == "done":
                        pulled.append(model)
                        emit(ev.MODEL_READY, f"model {model} pulled")
                    elif prog["state"] == "failed":
                        failed[model] = prog.get("error", "failed")
                        emit(ev.MODEL_PULL_FAIL, f"model {model}: {failed[model]}", category="image", model=model)
                    elif prog["state"] == "pulling":
                        pulling.add(model)
                        emit(ev.MODEL_PULL, f"model {model}: {percent(prog)}", model=model,
                             completed=prog.get("completed"), total=prog.get("total"))
                module_args["models"] = [m for m in module_args["models"] if m not in failed]
                if self._task.check_mode or not step["missing"] or all(m in failed for m in step["missing"]):
                    break
                if time.monotonic() >= deadline:
                    left = [m for m in step["missing"] if m not in pulled and m not in failed]
                    failed.update({m: "not complete within the pull timeout" for m in left})
                    emit(ev.MODEL_PULL_FAIL, f"models not pulled within {args.get('timeout', 1800)} s: {', '.join(left)}; "
                         "raise the pull timeout or load them on the host", category="timeout")
                    break
        finally:
            self.cleanup()
        result.update(changed=bool(pulled) or (self._task.check_mode and bool(first)), pulled=pulled, missing=first or [],
                      events=self.events, failed_models=sorted(failed))
        if failed:
            result.update(failed=True, msg="; ".join(f"{m}: {why}" for m, why in sorted(failed.items())))
        return result
