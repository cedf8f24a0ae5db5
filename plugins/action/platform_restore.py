# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore this host's part of the platform from a run in the restic repository, one step per call: check (every byte
read back through restic's authentication, versions, a running platform) before anything changes, then secrets,
volumes, databases. The repository's password reaches restic on the host through its environment.

An archive directory of release 0.2 or earlier (`archive`, aiplatform_restore_from) restores once the way it was
written: its seal is checked and its secrets decrypted here, and the key never leaves the controller."""
from __future__ import annotations

import base64
import json
import time

from ansible_collections.aiplatform.stack.plugins.module_utils import backup, data_record
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.plugin_utils import secrets_bundle
from ansible_collections.aiplatform.stack.plugins.plugin_utils.archive_action import (
    ArchiveAction,
    repository_args,
    repository_problem,
)
from ansible_collections.aiplatform.stack.plugins.plugin_utils.base import FlagError, flag

STEPS = ("check", "secrets", "volumes", "databases", "record", "done")


def judge(checked: dict, key: str, catalog: dict, here: list[str], force: bool, any_version: bool,
          only: list[str] | None = None) -> tuple[dict, list[str]]:
    """(restore plan, reasons to refuse) from what the host's check step found; pure, so it is unit-tested. `only`:
    the services whose own parts are restored - their volumes and databases, no roles (they exist) and no secrets (an
    upgrade changes no key): the rest of the run is neither judged nor restored (upgrade.yml's way back)."""
    text = checked["manifest_text"]
    # a restic run is authenticated by restic itself (every byte read back in the check); an archive by its seal
    if not checked.get("authenticated") and not backup.seal_matches(text, checked.get("seal", ""), key):
        return {}, ["manifest.json: its seal does not match (changed after the backup, or another "
                    "aiplatform_backup_key)"]
    manifest = json.loads(text)
    if only:
        manifest = dict(manifest, images={name: v for name, v in (manifest.get("images") or {}).items() if name in only},
                        files=[f for f in manifest.get("files") or [] if f.get("service") in only])
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
    # what wrote the data put back here, recorded once it is back (a restore may go back to an older release)
    wanted["written"] = {name: {"images": sorted((manifest.get("images") or {}).get(name, {}).values()),
                                "keys": data_record.keys_of((catalog.get(name) or {}).get("secrets") or {})}
                         for name in here if name in (manifest.get("images") or {})}
    if checked.get("snapshot"):
        wanted["snapshot"] = checked["snapshot"]
    return wanted, reasons


class ActionModule(ArchiveAction):
    _VALID_ARGS = frozenset(("step", "archive", "key", "catalog", "here", "force", "any_version", "secrets_dir",
                             "plan", "pull", "started_at", "repository", "image", "snapshot", "from_host",
                             "repository_env", "ssh_identity", "ssh_known_hosts", "base_dir", "only"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        step = args.get("step")
        if args.get("archive") and step != "done":  # an archive directory of 0.2 is read instead of the repository
            args = dict(args, repository="")
        started = time.monotonic()
        try:
            if step not in STEPS:
                raise backup.BackupError(f"step: one of {', '.join(STEPS)}", "config")
            keyed = ("check", "secrets", "volumes", "databases") if args.get("repository") else ("check", "secrets")
            problem = secrets_bundle.key_problem(args.get("key")) if step in keyed else None
            if not problem and step == "check" and not (args.get("repository") or args.get("archive")):
                problem = ("aiplatform_backup_repository: empty, and no aiplatform_restore_from; name the repository "
                           "the backup went into")
            if not problem and args.get("repository"):
                problem = repository_problem(args)
            if problem:
                raise backup.BackupError(problem, "config")
            out = getattr(self, f"do_{step}")(args, task_vars)
        except (backup.BackupError, secrets_bundle.BundleError, FlagError) as exc:
            category = getattr(exc, "category", "config")
            kind = ev.RESTORE_REFUSED if step == "check" else ev.RESTORE_FAIL
            self.emit(ev.make_event(kind, "restore", str(exc), category=category,
                                    duration=round(time.monotonic() - started, 3)))
            return dict(result, failed=True, msg=str(exc), category=category, events=self.events)
        finally:
            self.cleanup()
        return dict(result, events=self.events, seconds=round(time.monotonic() - started, 3), **out)

    @staticmethod
    def source(args: dict) -> str:
        """Where the parts are read: the run's snapshot in a repository, else the archive's directory."""
        return (args.get("plan") or {}).get("snapshot") or args["archive"]

    def do_check(self, args: dict, task_vars: dict) -> dict:
        if args.get("repository"):
            checked = self.step(task_vars, step="check_snapshot", host=self.host, from_host=args.get("from_host") or
                                self.host, which=args.get("snapshot") or "latest", **repository_args(args))
            args = dict(args, archive=f"{args['repository']} ({checked['run']})")
        else:
            checked = self.step(task_vars, step="check", archive=args["archive"])
        wanted, reasons = judge(checked, args["key"], args["catalog"], list(args.get("here") or []),
                                flag(args, "force"), flag(args, "any_version"), list(args.get("only") or []))
        if reasons:
            raise backup.BackupError(f"{args['archive']}: nothing was changed:\n- " + "\n- ".join(reasons), "config")
        for skipped in wanted["skipped"]:
            self.emit(ev.make_event(ev.RESTORE_PART, "restore", f"not for this host: {skipped}"))
        size = f"{backup.human(wanted['size'])}, " if wanted.get("size") else ""
        self.emit(ev.make_event(ev.RESTORE_START, "restore", f"restoring {wanted['name']} ({size}"
                                f"taken {wanted['created']}): {len(wanted['databases'])} database file(s), "
                                f"{len(wanted['volumes'])} volume(s){', secrets' if wanted['secrets'] else ''}",
                                size=wanted["size"], archive=args["archive"]))
        return {"changed": False, "plan": wanted, "started_at": time.time()}

    def do_record(self, args: dict, task_vars: dict) -> dict:
        """What wrote the data put back, in each restored service's record here - once the volumes and the databases
        are back (a restore that failed before leaves the records of the data that is still there)."""
        here = set(args.get("here") or [])
        written = {name: spec for name, spec in ((args.get("plan") or {}).get("written") or {}).items() if name in here}
        if not written:
            return {"changed": False, "recorded": []}
        done = self.step(task_vars, step="record_data", base_dir=args["base_dir"], secrets_dir=args["secrets_dir"],
                         written=written).get("recorded", [])
        return {"changed": True, "recorded": done}

    def do_secrets(self, args: dict, task_vars: dict) -> dict:
        if not args["plan"].get("secrets"):
            return {"changed": False, "restored": []}
        if args.get("repository"):  # read and written on the host: restic decrypts there, with the key
            here = set(args.get("here") or [])
            wanted = [name for name in args["plan"].get("secret_services") or [] if name in here]
            done = self.step(task_vars, step="restore_secrets", archive=self.source(args), services=wanted,
                             secrets_dir=args["secrets_dir"], force=flag(args, "force"),
                             **repository_args(args))["restored"]
            self.emit(ev.make_event(ev.RESTORE_PART, "restore", f"secrets of {', '.join(done) or 'no service'} restored"))
            return {"changed": bool(done), "restored": done}
        slurped = self._execute_module("ansible.builtin.slurp", module_args={"src": f"{args['archive']}/{backup.SECRETS}"},
                                       task_vars=task_vars)
        if slurped.get("failed"):
            raise backup.BackupError(f"{backup.SECRETS}: {slurped.get('msg')}", "config")
        bundle = secrets_bundle.decrypt(base64.b64decode(slurped["content"]).decode(), args["key"])
        here = set(args.get("here") or [])
        done = self.step(task_vars, step="write_secrets", secrets_dir=args["secrets_dir"], force=flag(args, "force"),
                         bundle={name: values for name, values in bundle.items() if name in here})["restored"]
        self.emit(ev.make_event(ev.RESTORE_PART, "restore", f"secrets of {', '.join(done) or 'no service'} restored"))
        return {"changed": bool(done), "restored": done}

    def do_volumes(self, args: dict, task_vars: dict) -> dict:
        wanted, done = args["plan"], []
        for item in wanted.get("volumes") or []:
            started = time.monotonic()
            done += self.step(task_vars, step="restore_volumes", archive=self.source(args), items=[item],
                              images=wanted["images"], force=flag(args, "force"),
                              pull=flag(args, "pull", True), **repository_args(args))["restored"]
            size = f" ({backup.human(item['size'])})" if item.get("size") is not None else ""
            self.emit(ev.make_event(ev.RESTORE_PART, item["service"], f"volume {item['volume']} restored{size}",
                                    duration=round(time.monotonic() - started, 3), size=item.get("size")))
        return {"changed": bool(done), "restored": done}

    def do_databases(self, args: dict, task_vars: dict) -> dict:
        wanted = args["plan"]
        if not wanted.get("databases"):
            return {"changed": False, "restored": []}
        pg = args["catalog"]["postgres"]
        postgres = {"container": pg["container"], "admin_user": (pg.get("admin") or {}).get("user", "postgres")}
        done = self.step(task_vars, step="restore_databases", archive=self.source(args), items=wanted["databases"],
                         postgres=postgres, skip_roles=[wanted["old_admin"]] if wanted.get("old_admin") else [],
                         force=flag(args, "force"), **repository_args(args))["restored"]
        return {"changed": bool(done), "restored": done}

    def do_done(self, args: dict, task_vars: dict) -> dict:
        seconds = round(time.time() - float(args.get("started_at") or time.time()), 3)
        wanted = args.get("plan") or {}
        if args.get("only"):  # upgrade.yml's way back: each service placed here, once it is healthy again
            for name in [n for n in args["only"] if n in (args.get("here") or [])]:
                parts = [i["volume"] for i in wanted.get("volumes") or [] if i.get("service") == name]
                images = ", ".join(((wanted.get("written") or {}).get(name) or {}).get("images") or []) or "?"
                self.emit(ev.make_event(ev.UPGRADE_ROLLED_BACK, name, f"its data put back from the snapshot "
                                        f"{wanted.get('name')} taken before the upgrade (its database(s) on the "
                                        f"PostgreSQL host{', volume(s) ' + ', '.join(parts) if parts else ''}), with "
                                        f"the previous release {images}: healthy again {seconds:g} s after the "
                                        f"restore began; what it wrote since {wanted.get('created')} is gone with the "
                                        f"migrated data", duration=seconds, archive=wanted.get("name")))
            return {"changed": False}
        self.emit(ev.make_event(ev.RESTORE_SUCCESS, "restore", f"{wanted.get('name')} restored and the platform "
                                f"deployed healthy in {seconds:g} s", duration=seconds, size=wanted.get("size"),
                                archive=args.get("archive")))
        return {"changed": False}
