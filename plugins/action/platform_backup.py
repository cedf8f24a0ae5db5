# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back up this host's part of the platform into a restic repository: planned here, taken on the host (every part
encrypted by restic there; the repository's password reaches restic only through its environment)."""
from __future__ import annotations

import time

from ansible_collections.aiplatform.stack.plugins.module_utils import backup, restic
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils import secrets_bundle
from ansible_collections.aiplatform.stack.plugins.plugin_utils.archive_action import (
    ArchiveAction,
    repository_args,
    repository_problem,
)
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import FlagError, flag


def keep_upgrades_problem(args: dict) -> str | None:
    value = args.get("keep_upgrades")
    if value is None or (str(value).isdigit() and int(value) >= 1):
        return None
    return (f"aiplatform_upgrade_keep_snapshots: {value!r} is not a count of at least 1 (the snapshot a rollback "
            f"needs must be kept); set how many pre-upgrade snapshots each host keeps, e.g. 3")


class ActionModule(ArchiveAction):
    _VALID_ARGS = frozenset(("catalog", "here", "enabled", "services", "include_optional", "secrets_dir", "key",
                             "pause", "facts", "repository", "image", "keep_rules", "repository_env", "record",
                             "verify", "ssh_identity", "ssh_known_hosts", "purpose", "keep_upgrades",
                             "base_dir", "recorded"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        started = time.monotonic()
        try:
            problem = None
            if not args.get("repository"):
                problem = ("aiplatform_backup_repository: empty; a backup goes into a restic repository (default "
                           "<aiplatform_backup_dest>/restic on the host)")
            problem = problem or secrets_bundle.key_problem(args.get("key")) or repository_problem(args) or (
                args.get("verify") and restic.subset_problem(str(args["verify"]))) or keep_upgrades_problem(args)
            if problem:
                raise backup.BackupError(problem, "config")
            wanted = backup.plan(args["catalog"], list(args.get("here") or []), list(args.get("enabled") or []),
                                 list(args.get("services") or []), flag(args, "include_optional"))
            wanted["secrets"] = wanted["services"]
            if not (wanted["services"] or wanted["databases"]):
                self.emit(ev.make_event(ev.BACKUP_SUCCESS, "backup", "nothing of the selected services runs here"))
                return dict(result, changed=False, events=self.events, archive=None)
            self.emit(ev.make_event(ev.BACKUP_START, "backup", f"backing up {self.what(wanted)} to "
                                    f"{args['repository']}"))
            return dict(result, **self.into_restic(args, task_vars, wanted, started))
        except (backup.BackupError, secrets_bundle.BundleError, FlagError) as exc:
            category = getattr(exc, "category", "config")
            self.emit(ev.make_event(ev.BACKUP_FAIL, "backup", str(exc), category=category,
                                    duration=round(time.monotonic() - started, 3)))
            return dict(result, failed=True, msg=str(exc), category=category, events=self.events)
        finally:
            self.cleanup()

    def into_restic(self, args: dict, task_vars: dict, wanted: dict, started: float) -> dict:
        """The backup as a run of snapshots in a restic repository: the host encrypts, nothing to seal here."""
        taken = self.step(task_vars, step="snapshot", plan=wanted, host=self.host, secrets_dir=args["secrets_dir"],
                          pause=flag(args, "pause", True), facts=dict(args.get("facts") or {}),
                          keep_rules=dict(args.get("keep_rules") or {}), record=args.get("record"),
                          purpose=args.get("purpose") or "", base_dir=args.get("base_dir") or None,
                          recorded=dict(args.get("recorded") or {}),
                          keep_upgrades=None if args.get("keep_upgrades") is None else int(args["keep_upgrades"]),
                          **repository_args(args))
        if taken["forgotten"]:
            self.emit(ev.make_event(ev.BACKUP_PRUNED, "backup", f"retention removed {len(taken['forgotten'])} "
                                    f"snapshot(s) of {self.host}"))
        if args.get("verify"):
            checked = time.monotonic()
            self.step(task_vars, step="verify", subset=str(args["verify"]), host=self.host, record=args.get("record"),
                      **repository_args(args))
            seconds = round(time.monotonic() - checked, 3)
            self.emit(ev.make_event(ev.BACKUP_VERIFIED, "backup", f"{args['repository']}: restic check passed, "
                                    f"{args['verify']} of the data read back, in {seconds:g} s", duration=seconds))
        seconds = round(time.monotonic() - started, 3)
        before = "the snapshot before the upgrade, " if args.get("purpose") == "pre-upgrade" else ""
        self.emit(ev.make_event(ev.BACKUP_SUCCESS, "backup", f"{before}{taken['run']} in {args['repository']}: "
                                f"{backup.human(taken['size'])} read, the repository grew by "
                                f"{backup.human(taken['added'])}, in {seconds:g} s", duration=seconds,
                                size=taken["size"], added=taken["added"], archive=taken["run"]))
        return {"changed": True, "events": self.events, "archive": None, "run": taken["run"],
                "snapshot": taken["snapshot"], "size": taken["size"], "added": taken["added"], "seconds": seconds,
                "forgotten": taken["forgotten"]}

    @staticmethod
    def what(wanted: dict) -> str:
        parts = [f"{len(wanted['databases'])} database(s)"] if wanted["databases"] else []
        parts += [f"{len(wanted['volumes'])} volume(s)"] if wanted["volumes"] else []
        parts += [f"the secrets of {', '.join(wanted['secrets'])}"] if wanted["secrets"] else []
        return ", ".join(parts)
