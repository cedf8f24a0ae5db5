"""Send service events from a running action plugin to the callbacks at once (live progress).

Ansible delivers a task's result only when the task ends. A long wait must show each retry as it happens, the way
`until:` retries reach callbacks through `v2_runner_retry`: the worker puts a callback message on the queue the
strategy reads. The custom method `v2_aiplatform_event` reaches only callbacks that implement it.
"""
from __future__ import annotations

import multiprocessing

from ansible.executor.task_result import _RawTaskResult
from ansible.utils.display import Display

METHOD = "v2_aiplatform_event"
display = Display()


class _HostName:
    def __init__(self, name: str) -> None:
        self.name = name


def send(task, host: str, event: dict) -> bool:
    """Deliver one event to the callbacks now; False when no live channel exists (the result carries it then)."""
    queue = getattr(multiprocessing.current_process(), "_final_q", None)
    if queue is None:
        return False
    try:
        queue.send_callback(METHOD, _RawTaskResult(host=_HostName(host), task=task,
                                                   return_data={"aiplatform_event": event},
                                                   task_fields=task.dump_attrs()))
        return True
    except Exception as exc:  # a private channel: never let it break the deploy
        display.vvv(f"aiplatform.stack: live event channel unavailable: {exc}")
        return False
