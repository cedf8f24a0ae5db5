"""The events of a failed deploy, shared by the compose_project and compose_projects actions."""
from __future__ import annotations

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

# category -> the specific event recorded before DEPLOY_FAIL
SPECIFIC = {"config": ev.CONFIG_INVALID, "port": ev.PORT_CONFLICT, "crash_loop": ev.RESTART_LOOP}


def record_failure(emit, category: str, cause: str, advice: str, duration: float | None) -> None:
    """emit(event_type, message, **facts): the specific event (when there is one), then DEPLOY_FAIL."""
    if category in SPECIFIC:
        emit(SPECIFIC[category], f"{cause}; fix: {advice}", category=category)
    emit(ev.DEPLOY_FAIL, f"[{category}] {cause}", category=category, duration=duration)
