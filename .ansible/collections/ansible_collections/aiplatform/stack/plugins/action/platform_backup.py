# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back up this host's part of the platform: plan here, dumps and tars on the host, secrets encrypted and the
manifest sealed here (the backup key never leaves the controller)."""
from __future__ import annotations

import time

from ansible_collections.aiplatform.stack.plugins.module_utils import backup
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils import secrets_bundle
from ansible_collections.aiplatform.stack.plugins.plugin_utils.archive_action import ArchiveAction


class ActionModule(ArchiveAction):
    _VALID_ARGS = frozenset(("catalog", "here", "enabled", "services", "include_optional", "dest", "keep",
                             "secrets_dir", "key", "pause", "facts"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        started = time.monotonic()
        try:
            problem = secrets_bundle.key_problem(args.get("key"))
            if problem:
                raise backup.BackupError(problem, "config")
            wanted = backup.plan(args["catalog"], list(args.get("here") or []), list(args.get("enabled") or []),
                                 list(args.get("services") or []), bool(args.get("include_optional")))
            wanted["secrets"] = wanted["services"]
            if not (wanted["services"] or wanted["databases"]):
                self.emit(ev.make_event(ev.BACKUP_SUCCESS, "backup", "nothing of the selected services runs here"))
                return dict(result, changed=False, events=self.events, archive=None)
            self.emit(ev.make_event(ev.BACKUP_START, "backup", f"backing up {self.what(wanted)} to {args['dest']}"))
            values = self.step(task_vars, step="read_secrets", secrets_dir=args["secrets_dir"],
                               services=wanted["secrets"])["values"]
            blob = secrets_bundle.encrypt(values, args["key"]) if values else None
            taken = self.step(task_vars, step="take", plan=wanted, dest=args["dest"], host=self.host,
                              secrets_blob=blob, pause=bool(args.get("pause", True)), facts=dict(args.get("facts") or {}))
            closed = self.step(task_vars, step="close", archive=taken["archive"], host=self.host,
                               seal=backup.seal(taken["manifest_text"], args["key"]), keep=int(args.get("keep", 7)))
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

    @staticmethod
    def what(wanted: dict) -> str:
        parts = [f"{len(wanted['databases'])} database(s)"] if wanted["databases"] else []
        parts += [f"{len(wanted['volumes'])} volume(s)"] if wanted["volumes"] else []
        parts += [f"the secrets of {', '.join(wanted['secrets'])}"] if wanted["secrets"] else []
        return ", ".join(parts)
