# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Send service events from a running action plugin to the callbacks at once (live progress).

Ansible delivers a task's result only when the task ends. A long wait must show each retry as it happens, the way
`until:` retries reach callbacks through `v2_runner_retry`: the worker puts a callback message on the queue the
strategy reads. The custom method `v2_aiplatform_event` reaches only callbacks that implement it.

ansible-core has no public interface for this. The task result class the queue carries differs between releases
(`TaskResult` with a host name and a task uuid before 2.19, `_RawTaskResult` with objects from 2.19 on), so both are
looked up here and anything unexpected turns the live channel off: the event then travels in the task's result,
which every release delivers (the callback records each event once, by its id).
"""
from __future__ import annotations

import multiprocessing

from ansible.utils.display import Display

METHOD = "v2_aiplatform_event"
display = Display()


class _HostName:
    def __init__(self, name: str) -> None:
        self.name = name


def task_result(host: str, task, data: dict):
    """The result object the worker's queue carries in this ansible-core release (None when there is none)."""
    from ansible.executor import task_result as tr

    raw = getattr(tr, "_RawTaskResult", None)
    if raw is not None:  # 2.19+: objects; the queue sends the host's name and the task's uuid on the wire
        return raw(host=_HostName(host), task=task, return_data=data, task_fields=task.dump_attrs())
    legacy = getattr(tr, "TaskResult", None)
    if legacy is not None:  # 2.17, 2.18: the strategy resolves the host name and the task uuid (normalize_task_result)
        return legacy(host, task._uuid, data, task_fields=task.dump_attrs())
    return None


def send(task, host: str, event: dict) -> bool:
    """Deliver one event to the callbacks now; False when no live channel exists (the result carries it then)."""
    queue = getattr(multiprocessing.current_process(), "_final_q", None)
    if queue is None:
        return False
    try:
        result = task_result(host, task, {"aiplatform_event": event})
        if result is None:
            return False
        queue.send_callback(METHOD, result)
        return True
    except Exception as exc:  # a private channel: never let it break the deploy
        display.vvv(f"aiplatform.stack: live event channel unavailable: {exc}")
        return False
