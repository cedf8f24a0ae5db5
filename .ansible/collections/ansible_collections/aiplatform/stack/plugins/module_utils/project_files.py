# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""A compose project's files on the host: what differs, a hash of all of them, the diff, staging and writing.

Private files (env files with secrets, mode without group or other bits) are never shown in a diff.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile

PREVIOUS = ".previous"  # the files of the last version that was brought up, for a rollback


def is_private(mode: int) -> bool:
    """A private file: readable by its owner only (env files with secrets)."""
    return mode & 0o077 == 0


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
            "secret": is_private(mode),  # private files (env files with secrets) are never shown in a diff
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
