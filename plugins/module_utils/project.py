# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""One compose project on a host: write its rendered files, validate, bring it to the wanted state.

Used by the compose_project and deploy_step modules (files: project_files.py, networks and images:
engine_checks.py); `run` is runner.run-like (argv, env) -> (rc, out, err).
Order for state=present: stage the new files -> `docker compose config` on the staged copy -> (nothing changed on
the host yet) -> pull missing images -> write files -> `up -d` only for drift. A failure before the write leaves the
running project exactly as it was.
"""
from __future__ import annotations

import os
import shutil
import time

from . import data_record, engine_checks, inputs, runner
from . import errors as err
from . import events as ev
from .compose import COMPOSE_FILE, HASH_ENV, HASH_LABEL, Compose, ComposeError, _labels, drift
from .project_files import PREVIOUS, diff_of, existing_files, files_hash, keep_previous, plan_files, stage, write_files

# recreate (the values of community.docker.docker_compose_v2) -> flags of `docker compose up`
UP_FLAGS = {"auto": [], "always": ["--force-recreate"], "never": ["--no-recreate"]}


def mislabelled(config_hash: str, containers: list[dict]) -> list[str]:
    """Services with a running container whose hash label is not the files' own (a label set by hand): compose's own
    hash label still matches, so `up` alone would leave it; only a forced recreate puts it right."""
    return sorted({c.get("Service", "") for c in containers
                   if c.get("State") == "running" and _labels(c).get(HASH_LABEL) != config_hash})


def stale(services: list[str], config_hash: str, containers: list[dict], recreate: str = "auto") -> list[str]:
    """Services `up` must act on. With recreate=never a container of another configuration is kept as it is:
    only missing or stopped containers count (so a re-run with changed files is not a change every time)."""
    if recreate == "never":
        containers = [dict(c, Labels=dict(_labels(c), **{HASH_LABEL: config_hash})) for c in containers]
    return drift(services, config_hash, containers)


class ProjectDeployer:
    """state -> method: present, stopped, restarted, absent."""

    def __init__(self, run, project_dir: str, project_name: str, check_mode: bool = False) -> None:
        self.dir = project_dir
        self.compose = Compose(run, project_dir, project_name)
        self.check_mode = check_mode

    def present(self, files: dict[str, dict], pull: str = "missing", recreate: str = "auto",
                networks: list[str] | None = None, recreate_services: list[str] | None = None,
                validated: dict | None = None) -> dict:
        """`recreate_services`: compose services to recreate although their hash label is current (drift: their containers
        were changed behind the platform's back, see drift.py). `validated`: what a check of the same files found
        earlier in the run ({hash, services, images}, returned by the check as `validated`): not asked again."""
        if not files:  # bring up the project as it is on disk
            files = existing_files(self.dir)
        for f in files.values():  # private files hold secrets: compose must not echo them into a result
            if int(str(f.get("mode", "0644")), 8) & 0o077 == 0 and isinstance(f.get("content"), str):
                # the values whose names say secret: an env file also holds names (users, hosts) that
                # compose prints as service and container names, which must stay readable and parseable
                self.compose.redactor.add(inputs.env_file_values(f["content"], ev.Redactor.secret_name)
                                          + inputs.url_passwords(inputs.env_file_values(f["content"])))
        plan = plan_files(self.dir, files)
        config_hash = files_hash(plan)
        self.compose.env[HASH_ENV] = config_hash
        changed_files = [f["rel"] for f in plan if f["changed"]]
        result = {"changed": False, "changed_files": changed_files, "diff": diff_of(plan), "actions": [],
                  "config_hash": config_hash}

        services = images = None  # the project's services and images, when its files were validated
        if changed_files or not os.path.exists(os.path.join(self.dir, COMPOSE_FILE)):
            if (validated or {}).get("hash") == config_hash:
                services, images = validated["services"], validated["images"]
            else:
                staged = stage(plan, self.dir, check_mode=self.check_mode)
                try:
                    problem, services, images = self.compose.validate(project_dir=staged)
                finally:
                    shutil.rmtree(staged, ignore_errors=True)
                if problem:
                    return dict(result, failed=True, **problem)
                # an image missing on a host that never pulls fails the check, before anything changes
                problem = engine_checks.missing_images(self.compose, images) if pull == "never" else None
                if problem:
                    return dict(result, failed=True, **problem)
            result["validated"] = {"hash": config_hash, "services": services, "images": images}
        try:
            if not changed_files and os.path.exists(os.path.join(self.dir, COMPOSE_FILE)):
                services, containers = self.compose.state()
                result["drift"] = stale(services, config_hash, containers, recreate)
                if not result["drift"] and recreate != "always" and not recreate_services:
                    return result  # the no-op path: two compose calls, nothing else
            if self.check_mode:
                result["changed"] = True
                return result
            if pull in ("missing", "always") and (pull == "always" or images is None or
                                                  engine_checks.missing_images(self.compose, images)):
                # Pull before touching containers: a missing image must not stop the running version.
                self.compose.checked("pull", "--quiet", "--ignore-buildable", "--policy", pull)
                result["actions"].append("pull")
            if changed_files and os.path.exists(os.path.join(self.dir, COMPOSE_FILE)):
                keep_previous(self.dir)
                result["rollback_available"] = True
            write_files(self.dir, plan)
            if images:  # starting a release is what migrates its data: recorded before, whatever follows
                data_record.started(self.dir, images)
            result["networks_created"] = engine_checks.ensure_networks(self.compose, networks or [])
            containers = []
            if changed_files and recreate != "never":
                result["drift"] = services  # new files, a new hash label: every service is recreated
            else:
                services, containers = self.compose.state()
                result["drift"] = stale(services, config_hash, containers, recreate)
            # A changed file changes the hash label, so compose recreates the project's containers by itself.
            force = recreate == "always"
            if result["drift"] or force:
                extra = UP_FLAGS[recreate] + (["--pull", "policy"] if pull == "policy" else [])
                progress = self.compose.checked("up", "--detach", "--remove-orphans", *extra)
                result["actions"].append(" ".join(["up", *extra]))
                result["started"] = progress.started
                result["unparsed"] = progress.other
            forced = set(recreate_services or []) - set(result["drift"])
            if not changed_files and mislabelled(config_hash, containers) and not UP_FLAGS[recreate]:
                # compose recreates a container made from older files by itself; one copied by hand, labels and
                # all, it leaves as it is: asked again after its `up`, and recreated by force
                forced |= set(mislabelled(config_hash, self.compose.state()[1]))
            forced = sorted(forced) if not UP_FLAGS[recreate] else []
            if forced:
                progress = self.compose.checked("up", "--detach", "--force-recreate", "--no-deps", *forced)
                result["actions"].append(" ".join(["up --force-recreate", *forced]))
                result["started"] = sorted(set(result.get("started") or []) | set(progress.started))
                result["unparsed"] = list(result.get("unparsed") or []) + progress.other
            result["changed"] = True
        except ComposeError as exc:
            return dict(result, failed=True, **exc.info)
        return result

    def _simple(self, *args: str) -> dict:
        if not os.path.exists(os.path.join(self.dir, COMPOSE_FILE)):
            return {"changed": False, "actions": [], "note": "no project here"}
        # The hash label must stay what the files say, or the next deploy would see drift.
        self.compose.env[HASH_ENV] = files_hash(plan_files(self.dir, existing_files(self.dir)))
        dummy, containers = self.compose.state()
        if self.check_mode:
            return {"changed": bool(containers), "actions": []}
        self.compose.checked(*args)
        return {"changed": True, "actions": [" ".join(args)]}

    def stopped(self) -> dict:
        if not os.path.exists(os.path.join(self.dir, COMPOSE_FILE)):
            return {"changed": False, "actions": []}
        dummy, containers = self.compose.state()
        if not any(c.get("State") in ("running", "restarting") for c in containers):
            return {"changed": False, "actions": []}
        if self.check_mode:
            return {"changed": True, "actions": []}
        # A container caught between two restarts can come back once; stop until none runs (bounded).
        for attempt in range(3):
            self.compose.checked("stop")
            dummy, containers = self.compose.state()
            if not any(c.get("State") in ("running", "restarting") for c in containers):
                break
            time.sleep(1 + attempt)
        return {"changed": True, "actions": ["stop"]}

    def previous(self, pull: str = "never") -> dict:
        """Roll back: bring up the files of the version before the last change (kept in .previous/)."""
        saved = os.path.join(self.dir, PREVIOUS)
        if not os.path.isdir(saved):
            return {"changed": False, "actions": [], "failed": True, "category": err.CONFIG,
                    "cause": "no previous version of this project is kept", "advice": "deploy a known good version"}
        files = existing_files(saved)
        result = self.present(files, pull=pull)
        shutil.rmtree(saved, ignore_errors=True)  # present() saved the failed version there; it is not wanted
        return result

    def restarted(self) -> dict:
        return self._simple("restart")

    def recreated(self) -> dict:
        """New containers from the current files; named volumes are kept."""
        return self._simple("up", "--detach", "--force-recreate", "--remove-orphans")

    def absent(self, remove_volumes: bool = False) -> dict:
        if not os.path.exists(os.path.join(self.dir, COMPOSE_FILE)):
            if remove_volumes and not self.check_mode:
                data_record.forget(self.dir)
            return {"changed": False, "actions": []}
        dummy, containers = self.compose.state()
        if not containers and not remove_volumes:
            return {"changed": False, "actions": []}
        if self.check_mode:
            return {"changed": True, "actions": []}
        args = ("down", "--remove-orphans", *(["--volumes"] if remove_volumes else []))
        for pause in (1, 2, 4, None):
            try:
                self.compose.checked(*args)
                break
            except ComposeError as exc:
                # the engine may still hold an endpoint of a container it has just removed (engine 20.10): the
                # project's network goes on a second `down` a moment later
                if pause is None or "has active endpoints" not in str(exc.info.get("cause", "")):
                    raise
                time.sleep(pause)
        if remove_volumes:
            data_record.forget(self.dir)
        return {"changed": True, "actions": ["down" + (" --volumes" if remove_volumes else "")]}


def run_subprocess(argv: list[str], env: dict | None = None) -> tuple[int, str, str]:
    """A thread-safe runner with a time limit per command (module_utils/runner.py)."""
    return runner.run(argv, env=env)
