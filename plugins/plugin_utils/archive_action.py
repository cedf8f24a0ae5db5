# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""What the backup and restore actions share: one step of the host module, its events, its failure."""
from __future__ import annotations

from ansible_collections.aiplatform.stack.plugins.module_utils import backup, restic
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import PlatformAction, module_failure


class ArchiveAction(PlatformAction):
    def step(self, task_vars: dict, **module_args) -> dict:
        """Run one step of aiplatform.stack.platform_archive on the host; its events go out live."""
        res = self._execute_module("aiplatform.stack.platform_archive", module_args=module_args, task_vars=task_vars)
        for event in res.pop("events", []) or []:
            self.emit(event)
        if res.get("failed"):
            failure = res if res.get("category") else module_failure(res)
            raise backup.BackupError(f"{module_args['step']}: {failure.get('msg')}", failure.get("category", "unknown"))
        return res


def repository_args(args: dict) -> dict:
    """The arguments that point the host module at the restic repository (none for an archive directory of 0.2)."""
    if not args.get("repository"):
        return {}
    out = {"repository": args["repository"], "password": args["key"],
           "repository_env": dict(args.get("repository_env") or {}), "image": args.get("image") or restic.DEFAULT_IMAGE}
    if args["repository"].startswith("sftp:"):
        out.update(ssh_identity=args.get("ssh_identity") or "", ssh_known_hosts=args.get("ssh_known_hosts") or "")
    return out


def repository_problem(args: dict) -> str | None:
    """Why the repository arguments cannot work, found on the controller before any host is asked."""
    return restic.repository_problem(args["repository"]) or restic.env_problem(
        dict(args.get("repository_env") or {})) or restic.ssh_problem(
        args["repository"], args.get("ssh_identity") or "", args.get("ssh_known_hosts") or "")
