"""One compose project on a host: write its rendered files, validate, bring it to the wanted state.

Used by the compose_project module; `run` is runner.run-like (argv, env) -> (rc, out, err), file access goes through plain os calls.
Order for state=present: stage the new files -> `docker compose config` on the staged copy -> (nothing changed on
the host yet) -> pull missing images -> write files -> `up -d` only for drift. A failure before the write leaves the
running project exactly as it was.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time

from . import errors as err
from . import inputs, runner
from .compose import COMPOSE_FILE, HASH_ENV, HASH_LABEL, Compose, ComposeError, _labels, drift

SECRET_MODE = 0o600
PREVIOUS = ".previous"  # the files of the last version that was brought up, for a rollback
# recreate (the values of community.docker.docker_compose_v2) -> flags of `docker compose up`
UP_FLAGS = {"auto": [], "always": ["--force-recreate"], "never": ["--no-recreate"]}


def stale(services: list[str], config_hash: str, containers: list[dict], recreate: str = "auto") -> list[str]:
    """Services `up` must act on. With recreate=never a container of another configuration is kept as it is:
    only missing or stopped containers count (so a re-run with changed files is not a change every time)."""
    if recreate == "never":
        containers = [dict(c, Labels=dict(_labels(c), **{HASH_LABEL: config_hash})) for c in containers]
    return drift(services, config_hash, containers)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def plan_files(project_dir: str, files: dict[str, dict]) -> list[dict]:
    """Which files differ from what is on disk: [{path, mode, content, old, changed, secret}] sorted by path."""
    plan = []
    for rel in sorted(files):
        if os.path.isabs(rel) or ".." in rel.split("/"):
            raise ValueError(f"file name '{rel}' must be relative to the project directory")
        spec = files[rel]
        content = spec.get("content", "")
        data = content.encode("utf-8")
        mode = int(str(spec.get("mode", "0644")), 8)
        path = os.path.join(project_dir, rel)
        old = _read(path)
        old_mode = (os.stat(path).st_mode & 0o777) if old is not None else None
        plan.append({
            "rel": rel, "path": path, "data": data, "mode": mode, "old": old,
            "changed": old != data or old_mode != mode,
            "secret": mode & 0o077 == 0,  # private files (env files with secrets) are never shown in a diff
        })
    return plan


def existing_files(project_dir: str) -> dict[str, dict]:
    """The project's top-level files as they are on disk, in the `files` form."""
    out = {}
    if os.path.isdir(project_dir):
        for name in sorted(os.listdir(project_dir)):
            path = os.path.join(project_dir, name)
            if os.path.isfile(path) and not name.startswith("."):
                with open(path, encoding="utf-8", errors="replace") as fh:
                    out[name] = {"content": fh.read(), "mode": "%04o" % (os.stat(path).st_mode & 0o777)}
    return out


def keep_previous(project_dir: str) -> None:
    """Copy the project's current files to .previous/ (0700), replacing an older copy."""
    target = os.path.join(project_dir, PREVIOUS)
    fresh = target + ".new"
    shutil.rmtree(fresh, ignore_errors=True)
    os.makedirs(fresh, mode=0o700)
    for name in existing_files(project_dir):
        shutil.copy2(os.path.join(project_dir, name), os.path.join(fresh, name))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(fresh, target)


def files_hash(plan: list[dict]) -> str:
    """One hash of every file of the project (names, modes and contents)."""
    h = hashlib.sha256()
    for f in sorted(plan, key=lambda f: f["rel"]):
        h.update(f"{f['rel']}\0{f['mode']:o}\0".encode() + f["data"] + b"\0")
    return h.hexdigest()[:32]


def diff_of(plan: list[dict]) -> list[dict]:
    """Ansible diff entries for changed files; private files show only that they changed."""
    out = []
    for f in plan:
        if not f["changed"]:
            continue
        if f["secret"]:
            before = "" if f["old"] is None else f"(private file, sha256 {_sha(f['old'])[:12]})\n"
            after = f"(private file, sha256 {_sha(f['data'])[:12]}, mode {f['mode']:04o})\n"
        else:
            before = "" if f["old"] is None else f["old"].decode("utf-8", "replace")
            after = f["data"].decode("utf-8", "replace")
        out.append({"before_header": f["rel"], "after_header": f["rel"], "before": before, "after": after})
    return out


def write_files(project_dir: str, plan: list[dict]) -> None:
    """Atomic per file: write a temp file with the final mode, then rename over the old one."""
    os.makedirs(project_dir, mode=0o750, exist_ok=True)
    for f in plan:
        if not f["changed"]:
            continue
        os.makedirs(os.path.dirname(f["path"]), mode=0o750, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(f["path"]), prefix=".tmp-")
        try:
            os.fchmod(fd, f["mode"])
            os.write(fd, f["data"])
        finally:
            os.close(fd)
        os.replace(tmp, f["path"])


def stage(plan: list[dict], project_dir: str, check_mode: bool = False) -> str:
    """A copy of the project with the new files, for validation: beside the real one, or in check mode in the
    system's temporary directory (check mode creates nothing below the base directory, not even the base)."""
    if check_mode:
        staged = tempfile.mkdtemp(prefix="aiplatform-stage-")
    else:
        parent = os.path.dirname(project_dir.rstrip("/")) or "."
        # a fresh host may not have the base directory yet (nothing else created it: no secrets, no earlier project)
        os.makedirs(parent, mode=0o755, exist_ok=True)
        staged = tempfile.mkdtemp(prefix=".stage-", dir=parent)
    if os.path.isdir(project_dir):
        for name in os.listdir(project_dir):
            src = os.path.join(project_dir, name)
            if os.path.isfile(src):
                shutil.copy2(src, os.path.join(staged, name))
    for f in plan:
        dest = os.path.join(staged, f["rel"])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as fh:
            fh.write(f["data"])
        os.chmod(dest, f["mode"])
    return staged


class ProjectDeployer:
    """state -> method: present, stopped, restarted, absent."""

    def __init__(self, run, project_dir: str, project_name: str, check_mode: bool = False) -> None:
        self.dir = project_dir
        self.compose = Compose(run, project_dir, project_name)
        self.check_mode = check_mode

    def ensure_networks(self, networks: list[str]) -> list[str]:
        """Create the shared external networks that are missing; returns the ones created."""
        created = []
        for name in networks:
            rc, dummy, dummy2 = self.compose._run([self.compose.docker, "network", "inspect", name])
            if rc == 0:
                continue
            argv = [self.compose.docker, "network", "create", "--label", "aiplatform.stack.network=true", name]
            rc, dummy, errout = self.compose._run(argv)
            if rc != 0 and "already exists" not in errout:
                raise ComposeError({"category": err.classify(errout) if err.classify(errout) != err.UNKNOWN else err.ENGINE,
                                    "cause": errout.strip(), "advice": err.ADVICE[err.ENGINE], "rc": rc})
            created.append(name)
        return created

    def present(self, files: dict[str, dict], pull: str = "missing", recreate: str = "auto",
                networks: list[str] | None = None) -> dict:
        if not files:  # bring up the project as it is on disk
            files = existing_files(self.dir)
        for f in files.values():  # private files hold secrets: compose must not echo them into a result
            if int(str(f.get("mode", "0644")), 8) & 0o077 == 0 and isinstance(f.get("content"), str):
                self.compose.redactor.add(inputs.env_file_values(f["content"]))
        plan = plan_files(self.dir, files)
        config_hash = files_hash(plan)
        self.compose.env[HASH_ENV] = config_hash
        changed_files = [f["rel"] for f in plan if f["changed"]]
        result = {"changed": False, "changed_files": changed_files, "diff": diff_of(plan), "actions": [],
                  "config_hash": config_hash}

        if changed_files or not os.path.exists(os.path.join(self.dir, COMPOSE_FILE)):
            staged = stage(plan, self.dir, check_mode=self.check_mode)
            try:
                problem = self.compose.validate(project_dir=staged)
            finally:
                shutil.rmtree(staged, ignore_errors=True)
            if problem:
                return dict(result, failed=True, **problem)
        try:
            if not changed_files and os.path.exists(os.path.join(self.dir, COMPOSE_FILE)):
                services, containers = self.compose.state()
                result["drift"] = stale(services, config_hash, containers, recreate)
                if not result["drift"] and recreate != "always":
                    return result  # the no-op path: two compose calls, nothing else
            if self.check_mode:
                result["changed"] = True
                return result
            if pull in ("missing", "always"):
                # Pull before touching containers: a missing image must not stop the running version.
                self.compose.checked("pull", "--quiet", "--ignore-buildable", "--policy", pull)
                result["actions"].append("pull")
            elif pull == "never":
                staged = stage(plan, self.dir)
                try:
                    problem = self._images_present(staged)
                finally:
                    shutil.rmtree(staged, ignore_errors=True)
                if problem:
                    return dict(result, failed=True, **problem)
            if changed_files and os.path.exists(os.path.join(self.dir, COMPOSE_FILE)):
                keep_previous(self.dir)
                result["rollback_available"] = True
            write_files(self.dir, plan)
            result["networks_created"] = self.ensure_networks(networks or [])
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
            result["changed"] = True
        except ComposeError as exc:
            return dict(result, failed=True, **exc.info)
        return result

    def _images_present(self, project_dir: str) -> dict | None:
        rc, out, dummy = self.compose.call("config", "--images", project_dir=project_dir)
        images = [line.strip() for line in out.splitlines() if line.strip()] if rc == 0 else []
        missing = []
        for image in images:
            rc, dummy, dummy2 = self.compose._run([self.compose.docker, "image", "inspect", image])
            if rc != 0:
                missing.append(image)
        if missing:
            return {"category": err.IMAGE, "cause": f"image not present on this host: {', '.join(missing)}",
                    "advice": err.ADVICE[err.IMAGE], "rc": 1}
        return None

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
            return {"changed": False, "actions": []}
        dummy, containers = self.compose.state()
        if not containers and not remove_volumes:
            return {"changed": False, "actions": []}
        if self.check_mode:
            return {"changed": True, "actions": []}
        self.compose.checked("down", "--remove-orphans", *(["--volumes"] if remove_volumes else []))
        return {"changed": True, "actions": ["down" + (" --volumes" if remove_volumes else "")]}


def run_subprocess(argv: list[str], env: dict | None = None) -> tuple[int, str, str]:
    """A thread-safe runner with a time limit per command (module_utils/runner.py)."""
    return runner.run(argv, env=env)


def present_many(projects: list[dict], pull: str, networks: list[str], check_mode: bool = False,
                 parallel: int = 4, run=run_subprocess) -> list[dict]:
    """Bring several projects up together (one dependency wave): [{name, project_src, project_name, files}].

    Results in input order, each with `name`; a failure of one never stops the others.
    """
    from concurrent.futures import ThreadPoolExecutor

    if networks and not check_mode and projects:
        ProjectDeployer(run, projects[0]["project_src"], projects[0]["project_name"]).ensure_networks(networks)

    def one(p: dict) -> dict:
        try:
            deployer = ProjectDeployer(run, p["project_src"], p["project_name"], check_mode=check_mode)
            return dict(deployer.present(p.get("files") or {}, pull=pull), name=p["name"])
        except ComposeError as exc:
            return dict(exc.info, failed=True, changed=False, name=p["name"])
        except (OSError, ValueError) as exc:
            return {"failed": True, "changed": False, "name": p["name"], "category": err.CONFIG, "cause": str(exc),
                    "advice": err.ADVICE[err.CONFIG]}

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(projects) or 1))) as pool:
        return list(pool.map(one, projects))
