"""A failed service stops only what depends on it: dependents are skipped with the reason, the rest carry on."""
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from .conftest import docker


def test_dependents_skipped_independents_healthy(platform):
    run = platform.deploy({
        # Redis is broken on purpose: the stand-in image has no redis entrypoint, so it crash-loops.
        "redis_image": "aiplatform-lab/standin:current",
        "aiplatform_dependencies": {"postgres": [], "redis": [], "litellm": ["redis"]},
    })
    assert run.rc != 0
    assert run.of(ev.RESTART_LOOP, "redis")
    assert run.of(ev.HEALTH_SUCCESS, "postgres")  # independent: carried on
    skipped = run.of(ev.DEPLOY_SKIPPED, "litellm")
    assert skipped and "depends on redis, which failed" in skipped[0]["message"]
    assert skipped[0]["level"] == "WARN"
    assert not run.of(ev.DEPLOY_START, "litellm")
    assert "not healthy on localhost: redis" in run.stdout
    assert docker("inspect", "-f", "{{.State.Status}}", "aiplatform-redis").stdout.strip() == "exited"  # stopped
