"""The per-host run lock: exclusive, re-entrant for its own run, stale leases taken over, given back by its holder."""
from ansible_collections.aiplatform.stack.plugins.module_utils import run_lock


def test_a_second_run_sees_who_holds_the_lock(tmp_path):
    d = str(tmp_path / "base")
    assert run_lock.acquire(d, {"run": "a", "controller": "awx-1"}, now=100.0, ttl=3600) is None
    held = run_lock.acquire(d, {"run": "b", "controller": "laptop"}, now=130.0, ttl=3600)
    assert held["run"] == "a" and held["controller"] == "awx-1" and held["since"] == 100.0
    assert "run a from awx-1 holds the lock since 30 s" == run_lock.describe(held, 130.0)
    assert run_lock.acquire(d, {"run": "a"}, now=140.0, ttl=3600) is None  # its own run again


def test_given_back_only_by_its_holder_then_free(tmp_path):
    d = str(tmp_path)
    run_lock.acquire(d, {"run": "a"}, now=0.0, ttl=60)
    assert not run_lock.release(d, "b")
    assert run_lock.release(d, "a")
    assert run_lock.acquire(d, {"run": "b"}, now=1.0, ttl=60) is None


def test_a_stale_lease_is_taken_over(tmp_path):
    d = str(tmp_path)
    run_lock.acquire(d, {"run": "killed"}, now=0.0, ttl=60)
    assert run_lock.acquire(d, {"run": "new"}, now=61.0, ttl=60) is None
    assert run_lock.acquire(d, {"run": "third"}, now=62.0, ttl=60)["run"] == "new"


def test_a_damaged_lock_file_is_judged_by_its_age(tmp_path):
    d = str(tmp_path)
    (tmp_path / run_lock.LOCK_NAME).write_text("{not json")
    import os
    os.utime(tmp_path / run_lock.LOCK_NAME, (0, 0))
    assert run_lock.acquire(d, {"run": "new"}, now=10_000.0, ttl=60) is None
