# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore this host's part of the platform from an archive, one step per call: check (seal, checksums, versions,
a running platform) before anything changes, then secrets, volumes, databases. Decryption and the seal's check
happen here: the backup key never leaves the controller."""
from __future__ import annotations

import base64
import json
import time

from ansible_collections.aiplatform.stack.plugins.module_utils import backup
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils import secrets_bundle
from ansible_collections.aiplatform.stack.plugins.plugin_utils.archive_action import ArchiveAction

STEPS = ("check", "secrets", "volumes", "databases", "done")


def judge(checked: dict, key: str, catalog: dict, here: list[str], force: bool, any_version: bool) -> tuple[dict, list[str]]:
    """(restore plan, reasons to refuse) from what the host's check step found; pure, so it is unit-tested."""
    text = checked["manifest_text"]
    if not backup.seal_matches(text, checked.get("seal", ""), key):
        return {}, ["manifest.json: its seal does not match (changed after the backup, or another "
                    "aiplatform_backup_key)"]
    manifest = json.loads(text)
    reasons = list(checked.get("problems") or [])
    pinned = {name: (catalog.get(name) or {}).get("images") or {} for name in catalog}
    reasons += backup.version_problems(manifest.get("images") or {}, pinned, any_version)
    running = checked.get("running") or []
    if running and not force:
        reasons.append(f"the platform runs on this host ({', '.join(running[:5])}{' ...' if len(running) > 5 else ''}); "
                       f"restore refuses to overwrite it: run teardown.yml first, or set aiplatform_restore_force=true "
                       f"(its containers are removed, its volumes and databases replaced)")
    try:
        wanted = backup.restore_plan(manifest, catalog, here)
    except backup.BackupError as exc:
        return {}, reasons + [str(exc)]
    present = sorted(set(checked.get("volumes") or []) & {item["volume"] for item in wanted["volumes"]})
    if present and not force:
        reasons.append(f"volume(s) {', '.join(present)} exist on this host; restore refuses to overwrite them: "
                       f"teardown.yml with aiplatform_purge=true first, or set aiplatform_restore_force=true")
    wanted.update(name=manifest.get("name"), size=manifest.get("size"), created=manifest.get("created"))
    return wanted, reasons


class ActionModule(ArchiveAction):
    _VALID_ARGS = frozenset(("step", "archive", "key", "catalog", "here", "force", "any_version", "secrets_dir",
                             "plan", "pull", "started_at"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        step = args.get("step")
        started = time.monotonic()
        try:
            if step not in STEPS:
                raise backup.BackupError(f"step: one of {', '.join(STEPS)}", "config")
            problem = secrets_bundle.key_problem(args.get("key")) if step in ("check", "secrets") else None
            if problem:
                raise backup.BackupError(problem, "config")
            out = getattr(self, f"do_{step}")(args, task_vars)
        except (backup.BackupError, secrets_bundle.BundleError) as exc:
            category = getattr(exc, "category", "config")
            kind = ev.RESTORE_REFUSED if step == "check" else ev.RESTORE_FAIL
            self.emit(ev.make_event(kind, "restore", str(exc), category=category,
                                    duration=round(time.monotonic() - started, 3)))
            return dict(result, failed=True, msg=str(exc), category=category, events=self.events)
        finally:
            self.cleanup()
        return dict(result, events=self.events, seconds=round(time.monotonic() - started, 3), **out)

    def do_check(self, args: dict, task_vars: dict) -> dict:
        checked = self.step(task_vars, step="check", archive=args["archive"])
        wanted, reasons = judge(checked, args["key"], args["catalog"], list(args.get("here") or []),
                                bool(args.get("force")), bool(args.get("any_version")))
        if reasons:
            raise backup.BackupError(f"{args['archive']}: nothing was changed:\n- " + "\n- ".join(reasons), "config")
        for skipped in wanted["skipped"]:
            self.emit(ev.make_event(ev.RESTORE_PART, "restore", f"not for this host: {skipped}"))
        self.emit(ev.make_event(ev.RESTORE_START, "restore", f"restoring {wanted['name']} ({backup.human(wanted['size'] or 0)}, "
                                f"taken {wanted['created']}): {len(wanted['databases'])} database file(s), "
                                f"{len(wanted['volumes'])} volume(s){', secrets' if wanted['secrets'] else ''}",
                                size=wanted["size"], archive=args["archive"]))
        return {"changed": False, "plan": wanted, "started_at": time.time()}

    def do_secrets(self, args: dict, task_vars: dict) -> dict:
        if not args["plan"].get("secrets"):
            return {"changed": False, "restored": []}
        slurped = self._execute_module("ansible.builtin.slurp", module_args={"src": f"{args['archive']}/{backup.SECRETS}"},
                                       task_vars=task_vars)
        if slurped.get("failed"):
            raise backup.BackupError(f"{backup.SECRETS}: {slurped.get('msg')}", "config")
        bundle = secrets_bundle.decrypt(base64.b64decode(slurped["content"]).decode(), args["key"])
        here = set(args.get("here") or [])
        done = self.step(task_vars, step="write_secrets", secrets_dir=args["secrets_dir"], force=bool(args.get("force")),
                         bundle={name: values for name, values in bundle.items() if name in here})["restored"]
        self.emit(ev.make_event(ev.RESTORE_PART, "restore", f"secrets of {', '.join(done) or 'no service'} restored"))
        return {"changed": bool(done), "restored": done}

    def do_volumes(self, args: dict, task_vars: dict) -> dict:
        wanted, done = args["plan"], []
        for item in wanted.get("volumes") or []:
            started = time.monotonic()
            done += self.step(task_vars, step="restore_volumes", archive=args["archive"], items=[item],
                              images=wanted["images"], force=bool(args.get("force")),
                              pull=bool(args.get("pull", True)))["restored"]
            self.emit(ev.make_event(ev.RESTORE_PART, item["service"], f"volume {item['volume']} restored "
                                    f"({backup.human(item['size'])})", duration=round(time.monotonic() - started, 3),
                                    size=item["size"]))
        return {"changed": bool(done), "restored": done}

    def do_databases(self, args: dict, task_vars: dict) -> dict:
        wanted = args["plan"]
        if not wanted.get("databases"):
            return {"changed": False, "restored": []}
        pg = args["catalog"]["postgres"]
        postgres = {"container": pg["container"], "admin_user": (pg.get("admin") or {}).get("user", "postgres")}
        done = self.step(task_vars, step="restore_databases", archive=args["archive"], items=wanted["databases"],
                         postgres=postgres, skip_roles=[wanted["old_admin"]] if wanted.get("old_admin") else [],
                         force=bool(args.get("force")))["restored"]
        return {"changed": bool(done), "restored": done}

    def do_done(self, args: dict, task_vars: dict) -> dict:
        seconds = round(time.time() - float(args.get("started_at") or time.time()), 3)
        wanted = args.get("plan") or {}
        self.emit(ev.make_event(ev.RESTORE_SUCCESS, "restore", f"{wanted.get('name')} restored and the platform "
                                f"deployed healthy in {seconds:g} s", duration=seconds, size=wanted.get("size"),
                                archive=args.get("archive")))
        return {"changed": False}
