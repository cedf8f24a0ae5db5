"""Two runs on one host at once: the second waits for the first's run lock (saying who holds it), both converge on
one set of secrets."""
import json
import os
import threading

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from .conftest import docker


def test_simultaneous_first_runs_are_serialized_and_converge(platform):
    runs = [None, None]

    def deploy(i):
        runs[i] = platform.deploy()

    threads = [threading.Thread(target=deploy, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.rc == 0 for r in runs), [r.stdout[-3000:] for r in runs if r.rc]
    waits = [e for r in runs for e in r.of(ev.RUN_LOCK_WAIT)]
    assert waits, "neither run waited for the other's lock"
    assert "holds the lock since" in waits[0]["message"]
    assert not os.path.exists(os.path.join(platform.base_dir, ".aiplatform-run.lock"))  # given back
    # one set of secrets: what the files hold is what the running LiteLLM got
    with open(os.path.join(platform.base_dir, "secrets", "litellm.json")) as fh:
        master_key = json.load(fh)["master_key"]
    env = docker("inspect", "-f", "{{json .Config.Env}}", "aiplatform-litellm").stdout
    assert f"LITELLM_MASTER_KEY={master_key}" in json.loads(env)
    again = platform.deploy()
    assert again.rc == 0 and again.recap()["changed"] == 0
