"""The plumbing every action plugin of the collection shares: its host, live events, temporary files."""
from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.aiplatform.stack.plugins.plugin_utils import live_events


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

    def cleanup(self) -> None:
        """Remove the remote temporary directory the module calls of this task shared."""
        self._remove_tmp_path(self._connection._shell.tmpdir)
