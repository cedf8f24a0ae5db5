# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""The plumbing every action plugin of the collection shares: its host, live events, temporary files."""
from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.aiplatform.stack.plugins.module_utils import errors as err
from ansible_collections.aiplatform.stack.plugins.plugin_utils import live_events

# exit codes of a module process ended by a signal (the shell reports 128 + the signal's number)
KILLED = {-9: "SIGKILL", -15: "SIGTERM", 137: "SIGKILL", 143: "SIGTERM"}


def module_failure(res: dict) -> dict:
    """A category and a cause for a module call that failed without saying why (killed, crashed, no JSON)."""
    rc = res.get("rc")
    if rc in KILLED:
        return {"category": "interrupted",
                "msg": f"the module's process was killed ({KILLED[rc]}) before it answered; re-run to converge"}
    detail = (res.get("module_stderr") or res.get("msg") or "no output").strip().splitlines()
    return {"category": err.UNKNOWN, "msg": f"the module failed (rc {rc}): {detail[-1] if detail else 'no output'}"}


class FlagError(ValueError):
    """A true/false argument that is neither; the message names the argument."""


def flag(args: dict, name: str, default: bool = False) -> bool:
    """A true/false argument as Ansible hands it to an action: a bool, or the text an AWX survey or `-e x=false`
    sends. boolean(), never bool(): bool("false") is True, and `force: "false"` must not overwrite anything."""
    value = args.get(name)
    if value is None or value == "":
        return default
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise FlagError(f"{name}: {value!r} is neither true nor false (true/false, yes/no, 1/0)") from None


class PlatformAction(ActionBase):
    """An action that records service events: each is stamped with the host, sent live, and kept for the result."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        self.host = (task_vars or {}).get("inventory_hostname", "")
        self.events: list[dict] = []
        return result

    def emit(self, event: dict) -> dict:
        event["host"] = self.host
        event["live"] = live_events.send(self._task, self.host, event)
        self.events.append(event)
        return event

    @staticmethod
    def flags(result: dict, args: dict, **defaults: bool) -> tuple[list[bool], dict | None]:
        """(flag() of each argument named (name=default), in that order; None), or (the defaults; the failed result,
        category config, naming the first that is neither true nor false): the action returns it before it asks any
        host anything."""
        try:
            return [flag(args, name, default) for name, default in defaults.items()], None
        except FlagError as exc:
            return list(defaults.values()), dict(result, failed=True, msg=str(exc), category="config")

    def cleanup(self) -> None:
        """Remove the remote temporary directory the module calls of this task shared."""
        self._remove_tmp_path(self._connection._shell.tmpdir)
