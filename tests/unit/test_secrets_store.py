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


def test_check_mode_creates_no_secrets_directory_and_fixes_no_mode(tmp_path):
    path = tmp_path / "base" / "secrets" / "s.json"
    secrets_store.ensure(str(path), {"a": {}}, check_mode=True)
    assert not (tmp_path / "base").exists()
    path.parent.mkdir(parents=True)
    path.write_text('{"a": "x"}')
    path.chmod(0o644)
    secrets_store.ensure(str(path), {"a": {}}, check_mode=True)
    assert path.stat().st_mode & 0o777 == 0o644
