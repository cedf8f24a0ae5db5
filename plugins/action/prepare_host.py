# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run lock, host checks and secrets in one round trip; a held lock is waited for with a live line, bounded."""
from __future__ import annotations

import os
import socket
import time

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils import run_lock
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import PlatformAction

RUN_ENV = "AIPLATFORM_RUN_ID"  # set by the platform_log callback; one id for all hosts of a run


def run_identity() -> dict:
    """This run: the playbook process on this controller (workers are its children)."""
    controller, pid = socket.gethostname(), os.getppid()
    return {"run": os.environ.get(RUN_ENV) or f"{controller}-{pid}", "controller": controller, "pid": pid}


def holder_gone(holder: dict) -> bool:
    """A holder on this controller whose playbook process has ended (killed without giving the lock back)."""
    if holder.get("controller") != socket.gethostname() or not holder.get("pid"):
        return False
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


class ActionModule(PlatformAction):
    _VALID_ARGS = frozenset(("lock_dir", "lock_ttl", "lock_wait", "ports", "paths", "min_disk_gb", "docker_host",
                             "secrets_dir", "secrets", "enabled", "networks", "images"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        wait = float(args.pop("lock_wait", 600))
        me = run_identity()
        module_args = dict(args, run=me["run"], holder={k: me[k] for k in ("controller", "pid")})
        deadline, delay = time.monotonic() + wait, 1.0
        try:
            while True:
                res = self._execute_module("aiplatform.stack.prepare_host", module_args=module_args, task_vars=task_vars)
                res.pop("invocation", None)
                held = res.get("held_by")
                if not held:
                    break
                now = time.time()
                if holder_gone(held):
                    module_args["take_over"] = held.get("run")
                    self.emit(ev.make_event(ev.RUN_LOCK_WAIT, "host", f"{run_lock.describe(held, now)}, but that "
                                            "process has ended: taking the lock over"))
                    continue
                if time.monotonic() >= deadline:
                    return dict(result, failed=True, category="config", held_by=held, events=self.events,
                                msg=f"another run holds this host: {run_lock.describe(held, now)}; wait for it, or remove "
                                    f"{args['lock_dir']}/{run_lock.LOCK_NAME} if that run is gone")
                self.emit(ev.make_event(ev.RUN_LOCK_WAIT, "host", f"waiting: {run_lock.describe(held, now)}; "
                                        f"{deadline - time.monotonic():.0f} s left"))
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        finally:
            self.cleanup()
        for event in res.pop("events", []) or []:
            self.emit(event)  # live: the result itself is censored once it holds secrets
        if res.get("failed"):
            return dict(result, **res, events=self.events)
        # Handed to a set_fact (no_log) by the pipeline, not returned as facts: facts of other actions may land in a
        # persistent fact cache (AWX keeps one), set_fact's stay in memory.
        secret_values = res.pop("values", {})  # before res is copied in: the secrets once, under this name only
        return dict(result, **res, events=self.events, lock_run=me["run"], _ansible_no_log=True,
                    secret_values=secret_values)
