"""Make `ansible_collections.aiplatform.stack` importable from the checkout (tests run without installing)."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
link = os.path.join(COLLECTIONS, "ansible_collections", "aiplatform", "stack")
if not os.path.exists(link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(os.path.relpath(ROOT, os.path.dirname(link)), link)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
# Ansible's collection loader, as ansible-test's unit tests have it: templates that call the collection's filters by
# their FQCN (a role's description, tests/unit/test_tenth_service.py) find them. Installed before anything imports
# ansible_collections, so every test sees the same modules.
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder  # noqa: E402

_AnsibleCollectionFinder(paths=[COLLECTIONS])._install()


@pytest.fixture(autouse=True)
def _no_run_id_left_behind(monkeypatch):
    """The platform_log callback sets AIPLATFORM_RUN_ID in its own process (the run lock names the run): a unit test's
    callback must not leave it to the deploys that later tests start, or they would all be one run (and the lock,
    taken again by its own run, would serialize nothing)."""
    monkeypatch.setenv("AIPLATFORM_RUN_ID", "unset")
    monkeypatch.delenv("AIPLATFORM_RUN_ID")  # undone in reverse order: the variable ends as it began
