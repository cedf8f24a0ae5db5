"""Run an action plugin's real ActionModule on a fake host: its module calls are answered by the test, nothing runs.

The task, play context, loader and templar are Ansible's own; only `_execute_module` is replaced (it records each
call and returns what the test's `answer` says), so what the plugin sends and what it makes of the answers are real.
"""
from __future__ import annotations

import copy
import types
from collections.abc import Callable

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.template import Templar

Answer = Callable[[str, dict], dict]


class FakeHost:
    """Answers module calls: `answer(module_name, module_args) -> result`; every call is kept in `calls`."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict]] = []

    def execute_module(self, module_name=None, module_args=None, task_vars=None, **kw) -> dict:
        # a copy: plugins go on changing the dict they sent (ollama_models drops failed models from it)
        self.calls.append((module_name, copy.deepcopy(module_args)))
        return copy.deepcopy(self.answer(module_name, module_args or {}))

    def sent(self, module_name: str) -> list[dict]:
        """The arguments of every call of `module_name`, in order."""
        return [args for name, args in self.calls if name == module_name]


def make_action(plugin, args: dict, answer: Answer, *, check_mode: bool = False, diff: bool = False):
    """(the plugin module's ActionModule for a task with `args`, its FakeHost)."""
    loader = DataLoader()
    task = Task()
    task.action = f"aiplatform.stack.{plugin.__name__.rsplit('.', 1)[-1]}"
    task.args = args
    task.check_mode = check_mode
    task.diff = diff
    # no "-tmp-" in the path: cleanup() removes nothing (ActionBase._should_remove_tmp_path)
    connection = types.SimpleNamespace(_shell=types.SimpleNamespace(tmpdir="/tmp"))
    action = plugin.ActionModule(task, connection, PlayContext(), loader, Templar(loader=loader), None)
    host = FakeHost(answer)
    action._execute_module = host.execute_module
    return action, host


def run_action(plugin, args: dict, answer: Answer, task_vars: dict | None = None, **kw):
    """(result of run(task_vars=...), FakeHost); task_vars default to a host named localhost."""
    action, host = make_action(plugin, args, answer, **kw)
    return action.run(task_vars=task_vars if task_vars is not None else {"inventory_hostname": "localhost"}), host


def events_of(result: dict, kind: str, service: str | None = None) -> list[dict]:
    """The result's events of type `kind` (and of `service`, if given)."""
    return [e for e in result.get("events") or [] if e["type"] == kind and (service is None or e["service"] == service)]


def types_of(result: dict) -> list[str]:
    """The result's event types in the order they were emitted."""
    return [e["type"] for e in result.get("events") or []]
