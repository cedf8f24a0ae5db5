"""Backup benchmark: the restic engine (module_utils/restic.py) side by side with plain pg_dump + tar to local files,
on the same data in one run (bench/RESULTS.md).

  python bench/backup.py [--db-rows 600000] [--volume-mib 128]

Deploys PostgreSQL and Redis from the lab inventory, fills a database (rows of text) and Redis' data volume (half
random bytes, half text), then times, each the median of --repeat rounds where it makes sense:
  1. a first backup into an empty restic repository        vs  pg_dump -Fc to a file + tar czf of the volume
  2. a second backup, nothing changed                       (time and repository growth, against the first)
  3. a restore into a scratch database and a scratch volume vs  pg_restore from the file + tar xzf
Only 127.0.0.1 and the lab's own containers are addressed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.aiplatform.stack.plugins.module_utils import restic  # noqa: E402

VENV_BIN = os.path.join(ROOT, ".venv", "bin")
BASE_DIR = "/tmp/aiplatform-bench-backup"  # noqa: S108 (the bench owns it; removed at the end)
IMAGE = "aiplatform-lab/restic:current"
PG = "aiplatform-postgres"
VOLUME = "aiplatform_redis_data"
BASE = "aiplatform-lab/base:current"
KEY = "bench-backup-key-0123456789"


def sh(argv, check=True, **kw):
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=check, **kw)


def psql(sql, db="platform"):
    return sh(["docker", "exec", PG, "psql", "-U", "platform", "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", sql]).stdout


def timed(fn):
    start = time.monotonic()
    out = fn()
    return time.monotonic() - start, out


def du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, dummy, files in os.walk(path) for f in files)


def deploy():
    sh(["ansible-playbook", "playbooks/site.yml", "-i", "inventories/lab", "-e", f"aiplatform_base_dir={BASE_DIR}",
        "-e", json.dumps({"aiplatform_services": ["postgres", "redis"]})])


def teardown():
    sh(["ansible-playbook", "playbooks/teardown.yml", "-i", "inventories/lab", "-e", f"aiplatform_base_dir={BASE_DIR}",
        "-e", "aiplatform_purge=true"], check=False)
    shutil.rmtree(BASE_DIR, ignore_errors=True)


def fill(rows, volume_mib):
    psql("DROP DATABASE IF EXISTS benchdata")
    psql("CREATE DATABASE benchdata")
    psql(f"CREATE TABLE t AS SELECT g AS id, md5(g::text) || repeat(md5((g * 7)::text), 3) AS v "  # noqa: S608 (an int)
         f"FROM generate_series(1, {int(rows)}) g", db="benchdata")
    half = volume_mib // 2
    sh(["docker", "run", "--rm", "-v", f"{VOLUME}:/v", BASE, "sh", "-c",
        f"head -c {half}M /dev/urandom > /v/bench-random.bin && "
        f"yes 'a line of text that compresses well, as logs and documents do' | head -c {half}M > /v/bench-text.log"])
    return int(psql("SELECT pg_database_size('benchdata')"))


def wanted():
    return {"services": ["redis"], "secrets": [],
            "postgres": {"container": PG, "admin_user": "platform"},
            "databases": [{"service": "bench", "name": "benchdata", "owner": "platform", "extensions": []}],
            "volumes": [{"service": "redis", "name": VOLUME, "key": "redis_data", "project": "aiplatform-redis",
                         "image": BASE, "pause": []}],
            "images": {}}


def baseline_backup(dest):
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "benchdata.dump"), "wb") as fh:
        subprocess.run(["docker", "exec", PG, "pg_dump", "-U", "platform", "-Fc", "-d", "benchdata"], stdout=fh,
                       check=True)
    with open(os.path.join(dest, "volume.tar.gz"), "wb") as fh:
        subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", f"{VOLUME}:/v:ro", BASE, "tar", "-czf", "-",
                        "-C", "/v", "."], stdout=fh, check=True)


def baseline_restore(dest):
    psql("DROP DATABASE IF EXISTS bench_restored")
    psql("CREATE DATABASE bench_restored")
    with open(os.path.join(dest, "benchdata.dump"), "rb") as fh:
        subprocess.run(["docker", "exec", "-i", PG, "pg_restore", "-U", "platform", "-d", "bench_restored",
                        "--single-transaction"], stdin=fh, check=True)
    sh(["docker", "volume", "rm", "-f", "bench_restored"])
    with open(os.path.join(dest, "volume.tar.gz"), "rb") as fh:
        subprocess.run(["docker", "run", "--rm", "-i", "--network", "none", "-v", "bench_restored:/v", BASE, "tar",
                        "-xzf", "-", "-C", "/v"], stdin=fh, check=True)


def restic_restore(arch, taken):
    psql("DROP DATABASE IF EXISTS bench_restored")
    psql("CREATE DATABASE bench_restored")
    manifest = json.loads(taken["manifest_text"])
    item = next(f for f in manifest["files"] if f["kind"] == "database")
    arch.feed(["docker", "exec", "-i", PG, "pg_restore", "-U", "platform", "-d", "bench_restored", "--single-transaction"],
              "pg_restore", taken["snapshot"], item)
    sh(["docker", "volume", "rm", "-f", "bench_restored"])
    target = f"{restic.ROOT}/volumes/{VOLUME}"
    arch._restic("restore", f"{taken['snapshot']}:{target}", "--target", target,
                 mounts=(f"bench_restored:{target}",), writes=True, what="restore")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db-rows", type=int, default=600000)
    ap.add_argument("--volume-mib", type=int, default=128)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="aiplatform-bench-backup-")
    repo, files = os.path.join(work, "restic"), os.path.join(work, "files")
    try:
        deploy()
        db_bytes = fill(args.db_rows, args.volume_mib)
        arch = restic.ResticArchive(repo, KEY, IMAGE, "bench")
        base_s, dummy = timed(lambda: baseline_backup(files))
        first_s, first = timed(lambda: arch.take(wanted(), work, time.time(), pause=False))
        first_repo = du(repo)
        second_s, second = timed(lambda: arch.take(wanted(), work, time.time() + 1, pause=False))
        growth = du(repo) - first_repo
        base_restore_s, dummy = timed(lambda: baseline_restore(files))
        restore_s, dummy = timed(lambda: restic_restore(arch, first))
        rows = psql("SELECT count(*) FROM t", db="bench_restored").strip()
        result = {
            "data": {"database_bytes": db_bytes, "volume_mib": args.volume_mib, "restored_rows": int(rows)},
            "baseline_backup_s": round(base_s, 2), "baseline_bytes": du(files),
            "restic_first_s": round(first_s, 2), "restic_first_repo_bytes": first_repo,
            "restic_second_s": round(second_s, 2), "restic_second_growth_bytes": growth,
            # where a second backup's time goes: each database is dumped and read again in full (restic skips only
            # the unchanged files of a volume, by its parent snapshot)
            "restic_second_database_s": round(sum(f.get("seconds") or 0 for f in json.loads(
                second["manifest_text"])["files"] if f["kind"] in ("database", "roles")), 2),
            "ratio_first_vs_baseline": round(first_s / base_s, 2),
            "ratio_second_vs_first": round(second_s / first_s, 3),
            "ratio_growth_vs_first": round(growth / first_repo, 4),
            "baseline_restore_s": round(base_restore_s, 2), "restic_restore_s": round(restore_s, 2),
            "ratio_restore_vs_baseline": round(restore_s / base_restore_s, 2),
        }
        assert int(rows) == args.db_rows, f"restored {rows} rows of {args.db_rows}"
        print(json.dumps(result, indent=2))
        out = os.path.join(ROOT, "bench", "out")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "backup.json"), "w") as fh:
            json.dump(result, fh, indent=2)
    finally:
        sh(["docker", "volume", "rm", "-f", "bench_restored"], check=False)
        teardown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
