# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
# Copyright: aiplatform.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How much a host holds and has left: its disks, the platform's volumes and databases, and the trend since the
last reading (kept beside the projects). A full disk stops every application at once: status warns before it."""
from __future__ import annotations

import os
import time

from .orphans import PROJECT_LABEL, PROJECT_PREFIX

# the listing of the platform's volumes with their compose project and mount point, one line each
VOLUME_FORMAT = '{{.Name}}\t{{.Label "' + PROJECT_LABEL + '"}}\t{{.Mountpoint}}'
# every database of the server but its templates, with its size in bytes
DATABASE_SIZES_SQL = "SELECT datname || chr(9) || pg_database_size(datname) FROM pg_database WHERE NOT datistemplate"


def human(n: int | float) -> str:
    """1536 -> '1.5 KiB' (binary units, one decimal)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - the loop returns at TiB


def disk(path: str) -> dict:
    """{path, device, total, free, used_percent} of the filesystem holding `path` (its nearest existing parent)."""
    probe = path
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    st = os.statvfs(probe)
    total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    used = total - st.f_bfree * st.f_frsize
    # as df counts it: used against what non-root users may fill (used + available)
    percent = round(100.0 * used / (used + free), 1) if used + free else 0.0
    return {"path": path, "device": os.stat(probe).st_dev, "total": total, "free": free, "used_percent": percent}


def disks(paths: list[str]) -> list[dict]:
    """One reading per filesystem: paths on the same one are read once (the first path names it)."""
    out, seen = [], set()
    for path in paths:
        reading = disk(path)
        if reading["device"] not in seen:
            seen.add(reading["device"])
            out.append(reading)
    return out


def tree_bytes(path: str) -> int:
    """Bytes a directory tree takes on disk (as du counts them: allocated blocks, links not followed, each inode
    once); 0 for one that cannot be read."""
    total, seen, stack = 0, set(), [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += getattr(st, "st_blocks", 0) * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return total


def platform_volumes(listing: str) -> list[dict]:
    """[{name, service, mountpoint}] of the platform's volumes from a `docker volume ls --format VOLUME_FORMAT`."""
    out = []
    for line in (listing or "").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1].startswith(PROJECT_PREFIX):
            out.append({"name": parts[0], "service": parts[1][len(PROJECT_PREFIX):], "mountpoint": parts[2]})
    return sorted(out, key=lambda v: v["name"])


def database_sizes(text: str) -> dict[str, int]:
    """{database: bytes} from psql -At output of DATABASE_SIZES_SQL."""
    out = {}
    for line in (text or "").splitlines():
        name, sep, size = line.partition("\t")
        if sep and size.strip().isdigit():
            out[name] = int(size)
    return out


def findings(current: dict, previous: dict, warn_percent: float, now: float | None = None) -> list[dict]:
    """One finding per disk: {kind, path, level, message}; WARN at or past `warn_percent` used, with the change in free
    space since the previous reading (when one was kept for that path)."""
    now = time.time() if now is None else now
    before = {d["path"]: d for d in previous.get("disks") or []}
    out = []
    for d in current.get("disks") or []:
        message = f"disk of {d['path']}: {d['used_percent']:g}% used, {human(d['free'])} free of {human(d['total'])}"
        last = before.get(d["path"])
        if last and previous.get("time"):
            change = d["free"] - int(last.get("free") or 0)
            hours = max(0.0, (now - float(previous["time"])) / 3600)
            message += f" ({'+' if change >= 0 else '-'}{human(abs(change))} free since {hours:.1f} h ago)"
        level = "WARN" if d["used_percent"] >= warn_percent else "INFO"
        if level == "WARN":
            message += (f"; past aiplatform_disk_warn_percent ({warn_percent:g}): free space (docker image prune, "
                        "old backups, unused models) before the applications stop on a full disk")
        out.append({"kind": "disk", "path": d["path"], "level": level, "message": message})
    return out
