# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back up this host's part of the platform: plan here, dumps and tars on the host, secrets encrypted and the
manifest sealed here (for an archive the backup key never leaves the controller; a restic repository's password
reaches restic on the host through its environment)."""
from __future__ import annotations

import time

from ansible_collections.aiplatform.stack.plugins.module_utils import backup, restic
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils import secrets_bundle
from ansible_collections.aiplatform.stack.plugins.plugin_utils.archive_action import ArchiveAction


class ActionModule(ArchiveAction):
    _VALID_ARGS = frozenset(("catalog", "here", "enabled", "services", "include_optional", "dest", "keep",
                             "secrets_dir", "key", "pause", "facts", "repository", "image", "keep_rules",
                             "repository_env", "record", "verify"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        started = time.monotonic()
        try:
            problem = secrets_bundle.key_problem(args.get("key"))
            if not problem and args.get("repository"):
                problem = restic.repository_problem(args["repository"]) or restic.env_problem(
                    dict(args.get("repository_env") or {})) or (args.get("verify") and restic.subset_problem(
                        str(args["verify"])))
            elif not problem and args.get("verify"):
                problem = "aiplatform_backup_verify: reads back a restic repository's data; set aiplatform_backup_repository"
            if problem:
                raise backup.BackupError(problem, "config")
            wanted = backup.plan(args["catalog"], list(args.get("here") or []), list(args.get("enabled") or []),
                                 list(args.get("services") or []), bool(args.get("include_optional")))
            wanted["secrets"] = wanted["services"]
            if not (wanted["services"] or wanted["databases"]):
                self.emit(ev.make_event(ev.BACKUP_SUCCESS, "backup", "nothing of the selected services runs here"))
                return dict(result, changed=False, events=self.events, archive=None)
            self.emit(ev.make_event(ev.BACKUP_START, "backup", f"backing up {self.what(wanted)} to "
                                    f"{args.get('repository') or args['dest']}"))
            if args.get("repository"):
                return dict(result, **self.into_restic(args, task_vars, wanted, started))
            values = self.step(task_vars, step="read_secrets", secrets_dir=args["secrets_dir"],
                               services=wanted["secrets"])["values"]
            blob = secrets_bundle.encrypt(values, args["key"]) if values else None
            taken = self.step(task_vars, step="take", plan=wanted, dest=args["dest"], host=self.host,
                              secrets_blob=blob, pause=bool(args.get("pause", True)), facts=dict(args.get("facts") or {}))
            closed = self.step(task_vars, step="close", archive=taken["archive"], host=self.host,
                               seal=backup.seal(taken["manifest_text"], args["key"]), keep=int(args.get("keep", 7)),
                               record=args.get("record"))
        except (backup.BackupError, secrets_bundle.BundleError) as exc:
            category = getattr(exc, "category", "config")
            self.emit(ev.make_event(ev.BACKUP_FAIL, "backup", str(exc), category=category,
                                    duration=round(time.monotonic() - started, 3)))
            return dict(result, failed=True, msg=str(exc), category=category, events=self.events)
        finally:
            self.cleanup()
        manifest = backup.json.loads(taken["manifest_text"])
        for name in closed["pruned"]:
            self.emit(ev.make_event(ev.BACKUP_PRUNED, "backup", f"removed {name} (keeping the newest {args.get('keep', 7)})"))
        seconds = round(time.monotonic() - started, 3)
        self.emit(ev.make_event(ev.BACKUP_SUCCESS, "backup", f"{closed['archive']}: {len(manifest['files'])} files, "
                                f"{backup.human(manifest['size'])} in {seconds:g} s", duration=seconds,
                                size=manifest["size"], archive=closed["archive"]))
        return dict(result, changed=True, events=self.events, archive=closed["archive"], size=manifest["size"],
                    seconds=seconds, files=[{k: f[k] for k in ("path", "size", "sha256")} for f in manifest["files"]],
                    pruned=closed["pruned"])

    def into_restic(self, args: dict, task_vars: dict, wanted: dict, started: float) -> dict:
        """The backup as a run of snapshots in a restic repository: the host encrypts, nothing to seal here."""
        taken = self.step(task_vars, step="snapshot", plan=wanted, host=self.host, secrets_dir=args["secrets_dir"],
                          repository=args["repository"], password=args["key"],
                          repository_env=dict(args.get("repository_env") or {}), image=args.get("image") or
                          restic.DEFAULT_IMAGE, pause=bool(args.get("pause", True)),
                          facts=dict(args.get("facts") or {}), keep_rules=dict(args.get("keep_rules") or {}),
                          record=args.get("record"))
        if taken["forgotten"]:
            self.emit(ev.make_event(ev.BACKUP_PRUNED, "backup", f"retention removed {len(taken['forgotten'])} "
                                    f"snapshot(s) of {self.host}"))
        if args.get("verify"):
            checked = time.monotonic()
            self.step(task_vars, step="verify", subset=str(args["verify"]), host=self.host, record=args.get("record"),
                      repository=args["repository"], password=args["key"],
                      repository_env=dict(args.get("repository_env") or {}), image=args.get("image") or
                      restic.DEFAULT_IMAGE)
            seconds = round(time.monotonic() - checked, 3)
            self.emit(ev.make_event(ev.BACKUP_VERIFIED, "backup", f"{args['repository']}: restic check passed, "
                                    f"{args['verify']} of the data read back, in {seconds:g} s", duration=seconds))
        seconds = round(time.monotonic() - started, 3)
        self.emit(ev.make_event(ev.BACKUP_SUCCESS, "backup", f"{taken['run']} in {args['repository']}: "
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
