"""Benchmarks, each side by side with its baseline in the same run, reported as ratios (bench/RESULTS.md).

  python bench/run.py [--repeat 3] [--no-scale]   (every benchmark, from one command)

1. cold deploy of the lab stack: site.yml vs one compose file with depends_on: service_healthy and up -d --wait
2. no-op re-run: site.yml vs `docker compose up -d` on the same unchanged stack
3. health detection latency: exponential backoff with full jitter vs the linear schedule base * (attempt - 1),
   on the real wait loop with a simulated clock (ready times 0.5-30 s, same probe cost)
4. callback overhead: the same no-op site.yml run with and without aiplatform.stack.platform_log
and benchmark 3 through bench/scale.py: 60 vs 9 services at depth 4, on one host and over three hosts;
backups (restic vs pg_dump + tar): bench/backup.py
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.aiplatform.stack.plugins.plugin_utils.backoff import Backoff, linear_delay  # noqa: E402
from ansible_collections.aiplatform.stack.plugins.plugin_utils.health_wait import wait_for  # noqa: E402

VENV_BIN = os.path.join(ROOT, ".venv", "bin")
BASE_DIR = "/tmp/aiplatform-bench"  # noqa: S108 (the bench owns it; removed after each round)
BASELINE = ["docker", "compose", "-f", os.path.join(ROOT, "bench", "baseline-compose.yml")]
# The services of the baseline compose file (the whole platform's times are in tests/output/*_times.json).
CORE = json.dumps({"aiplatform_services": ["postgres", "redis", "litellm"]})


def sh(argv, env=None, check=True):
    full = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"], **(env or {}))
    return subprocess.run(argv, cwd=ROOT, env=full, capture_output=True, text=True, check=check)


def timed(argv, env=None):
    start = time.monotonic()
    proc = sh(argv, env, check=False)
    took = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return took


def site(extra_env=None):
    log_dir = tempfile.mkdtemp(prefix="bench-log-")
    env = dict(AIPLATFORM_LOG_DIR=log_dir, **(extra_env or {}))
    return timed(["ansible-playbook", "playbooks/site.yml", "-i", "inventories/lab", "-e", f"aiplatform_base_dir={BASE_DIR}",
                  "-e", CORE], env)


def without_callback():
    """ansible.cfg of the checkout, less the platform_log callback (paths made absolute)."""
    path = os.path.join(tempfile.gettempdir(), "aiplatform-bench-nocallback.cfg")
    with open(os.path.join(ROOT, "ansible.cfg")) as fh:
        text = fh.read()
    text = text.replace("callbacks_enabled = aiplatform.stack.platform_log\n", "")
    text = text.replace("./.collections", os.path.join(ROOT, ".collections")).replace("./inventories", os.path.join(ROOT, "inventories"))
    with open(path, "w") as fh:
        fh.write(text)
    return path


def ours_down():
    sh(["ansible-playbook", "playbooks/teardown.yml", "-i", "inventories/lab", "-e", f"aiplatform_base_dir={BASE_DIR}",
        "-e", "aiplatform_purge=true", "-e", CORE], check=False)
    sh(["rm", "-rf", BASE_DIR])


def baseline_down():
    sh(BASELINE + ["down", "-v", "--remove-orphans"], check=False)


def median(xs):
    return round(statistics.median(xs), 2)


def bench_cold_and_noop(repeat):
    ours_cold, base_cold, ours_noop, base_noop, quiet, loud = [], [], [], [], [], []
    for dummy in range(repeat):
        ours_down()
        baseline_down()
        base_cold.append(timed(BASELINE + ["up", "-d", "--wait"]))
        base_noop.append(timed(BASELINE + ["up", "-d"]))
        baseline_down()
        ours_cold.append(site())
        ours_noop.append(site())
        loud.append(site())
        quiet.append(site({"ANSIBLE_CONFIG": without_callback()}))
    ours_down()
    return {
        "cold": {"ours_s": median(ours_cold), "baseline_s": median(base_cold), "ratio": round(median(ours_cold) / median(base_cold), 2),
                 "runs": {"ours": ours_cold, "baseline": base_cold}},
        "noop": {"ours_s": median(ours_noop), "baseline_s": median(base_noop), "ratio": round(median(ours_noop) / median(base_noop), 2),
                 "runs": {"ours": ours_noop, "baseline": base_noop}},
        "callback": {"with_s": median(loud), "without_s": median(quiet), "ratio": round(median(loud) / median(quiet), 2),
                     "runs": {"with": loud, "without": quiet}},
    }


def bench_detection(samples=400, probe_cost=0.25, seed=7):
    """Gap between a service becoming ready and the wait noticing, on the real wait loop with a simulated clock."""
    rng = random.Random(seed)
    ready_times = [rng.uniform(0.5, 30) for dummy in range(samples)]

    class Sim:
        """A simulated clock and a service that becomes ready at `ready_at`; each probe costs `probe_cost`."""

        def __init__(self, ready_at):
            self.now, self.ready_at = 0.0, ready_at

        def clock(self):
            return self.now

        def sleep(self, seconds):
            self.now += seconds

        def probe_round(self, specs, baseline):
            self.now += probe_cost
            return {s["name"]: {"verdict": "ready" if self.now >= self.ready_at else "waiting", "detail": ""} for s in specs}

    def run(schedule):
        gaps = []
        for ready_at in ready_times:
            sim = Sim(ready_at)
            if schedule == "ours":
                out = wait_for([{"name": "s", "type": "proxy", "backoff": {"initial": 0, "deadline": 600}}], sim.probe_round,
                               lambda e: None, clock=sim.clock, sleep=sim.sleep, rng=random.Random(rng.random()))
                assert out["s"]["state"] == "healthy"
            else:  # the bash scripts' schedule: sleep base * (attempt - 1) between attempts
                attempt = 0
                while True:
                    attempt += 1
                    sim.sleep(linear_delay(1.0, attempt))
                    if sim.probe_round([{"name": "s"}], {})["s"]["verdict"] == "ready":
                        break
            gaps.append(sim.now - ready_at)
        return gaps

    ours, linear = run("ours"), run("linear")
    return {"ours_median_s": median(ours), "linear_median_s": median(linear),
            "ours_p95_s": round(sorted(ours)[int(0.95 * samples)], 2), "linear_p95_s": round(sorted(linear)[int(0.95 * samples)], 2),
            "ratio_median": round(statistics.median(ours) / statistics.median(linear), 2),
            "backoff": Backoff.from_dict({"initial": 2, "base": 0.5, "cap": 5}).__dict__, "linear_base_s": 1.0,
            "samples": samples, "probe_cost_s": probe_cost}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-docker", action="store_true")
    parser.add_argument("--no-scale", action="store_true", help="leave out benchmark 3 (scale.py, one and three hosts)")
    args = parser.parse_args()
    results = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.node()}: {os.cpu_count()} cores, "
               f"{platform.platform()}", "detection": bench_detection()}
    if not args.skip_docker:
        results.update(bench_cold_and_noop(args.repeat))
        results["engine"] = sh(["docker", "version", "-f", "{{.Server.Version}}"]).stdout.strip()
        results["compose"] = sh(["docker", "compose", "version", "--short"]).stdout.strip()
        if not args.no_scale:
            # benchmark 3, one host and the three-host lab, each with its 9-service baseline in the same run
            for key, extra in (("scale_1_host", []), ("scale_3_hosts", ["--hosts", "3"])):
                out = sh([sys.executable, os.path.join(ROOT, "bench", "scale.py"), *extra]).stdout
                results[key] = json.loads(out[out.index("{"):])
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "out", "results.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
