import json
import os

from ansible_collections.aiplatform.stack.plugins.module_utils import secrets_store


def test_generated_once_then_reused_and_private(tmp_path):
    path = str(tmp_path / "secrets" / "litellm.json")
    want = {"master_key": {"kind": "sk", "length": 40}, "salt_key": {"kind": "hex", "length": 32}}
    first, added = secrets_store.ensure(path, want)
    assert sorted(added) == ["master_key", "salt_key"]
    assert first["master_key"].startswith("sk-") and len(first["master_key"]) == 43
    assert len(first["salt_key"]) == 32
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    again, added = secrets_store.ensure(path, want)
    assert again == first and added == []  # an encryption key never rotates


def test_new_secret_added_without_touching_existing(tmp_path):
    path = str(tmp_path / "s.json")
    first, dummy = secrets_store.ensure(path, {"a": {}})
    second, added = secrets_store.ensure(path, {"a": {}, "b": {}})
    assert added == ["b"] and second["a"] == first["a"]
    assert json.load(open(path)) == second


def test_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / "s.json")
    values, added = secrets_store.ensure(path, {"a": {}}, check_mode=True)
    assert added == ["a"] and not os.path.exists(path)


def test_values_are_random():
    assert len({secrets_store.generate() for dummy in range(50)}) == 50


def _first_run(path, barrier, queue):
    barrier.wait()
    values, dummy = secrets_store.ensure(path, {"encryption_key": {"kind": "token", "length": 48}})
    queue.put(values["encryption_key"])


def test_simultaneous_first_runs_end_with_one_set_of_secrets(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for round_ in range(20):
        path = str(tmp_path / f"round{round_}" / "secrets" / "n8n.json")
        barrier, queue = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_first_run, args=(path, barrier, queue)) for dummy in range(4)]
        for p in procs:
            p.start()
        keys = {queue.get(timeout=20) for dummy in procs}
        for p in procs:
            p.join()
        with open(path) as fh:
            stored = json.load(fh)["encryption_key"]
        assert keys == {stored}, f"round {round_}: {len(keys)} different keys handed out"


def test_check_mode_creates_no_secrets_directory_and_fixes_no_mode(tmp_path):
    path = tmp_path / "base" / "secrets" / "s.json"
    secrets_store.ensure(str(path), {"a": {}}, check_mode=True)
    assert not (tmp_path / "base").exists()
    path.parent.mkdir(parents=True)
    path.write_text('{"a": "x"}')
    path.chmod(0o644)
    secrets_store.ensure(str(path), {"a": {}}, check_mode=True)
    assert path.stat().st_mode & 0o777 == 0o644
