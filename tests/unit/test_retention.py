"""Data that does not grow without bound (issue 28, retention): n8n's execution history and LiteLLM's spend logs are
bounded by default, each by a variable of its role, checked by the plan before anything changes."""
import pytest
import yaml
from ansible.module_utils.compat.version import LooseVersion
from ansible.release import __version__ as ansible_version

from ansible_collections.aiplatform.stack.plugins.module_utils import inputs

from . import real_plan
from .render_roles import render

N8N = {"n8n_service": {"project": "aiplatform-n8n", "container": "aiplatform-n8n", "ports": [],
                       "hardening": {"n8n": {"enabled": False}}},
       "n8n_image": "n8nio/n8n:2.41.1", "n8n_postgres": {"host": "aiplatform-postgres", "port": 5432},
       "n8n_database_name": "n8n", "n8n_webhook_url": "", "n8n_bind_address": "127.0.0.1", "n8n_published_port": 5678,
       "n8n_timezone": "UTC", "n8n_queue_mode": False, "n8n_extra_env": {}, "n8n_resources": {},
       "n8n_executions_max_age_hours": 336, "n8n_executions_max_count": 10000}


def litellm_config(**over):
    values = dict({"litellm_redis_enabled": False, "litellm_models": [], "litellm_database_enabled": True,
                   "litellm_spend_logs_retention": "30d"}, **over)
    return yaml.safe_load(render("litellm", "config.yaml.j2", **values))


def test_litellm_keeps_its_spend_logs_for_the_retention_and_only_where_it_keeps_them():
    assert litellm_config()["general_settings"]["maximum_spend_logs_retention_period"] == "30d"
    assert "maximum_spend_logs_retention_period" not in litellm_config(litellm_spend_logs_retention="")[
        "general_settings"]  # '' keeps everything
    assert "maximum_spend_logs_retention_period" not in litellm_config(litellm_database_enabled=False)[
        "general_settings"]  # config-only: no spend logs at all


def test_n8n_prunes_its_execution_history_by_age_and_count():
    env = yaml.safe_load(render("n8n", "compose.yml.j2", **N8N))["services"]["n8n"]["environment"]
    assert env["EXECUTIONS_DATA_PRUNE"] == "true"
    assert env["EXECUTIONS_DATA_MAX_AGE"] == "336" and env["EXECUTIONS_DATA_PRUNE_MAX_COUNT"] == "10000"


def test_a_retention_that_would_delete_everything_or_is_not_a_period_is_refused_naming_the_fix():
    svc = {"inputs": {"periods": {"litellm_spend_logs_retention": "30 days"}}}
    (problem,) = inputs.service_input_problems("litellm", svc)
    assert problem.startswith("litellm.litellm_spend_logs_retention: '30 days' is not a period; write a number")
    for ok in ("30d", "12h", "90m", ""):
        assert inputs.service_input_problems("litellm", {"inputs": {"periods": {"r": ok}}}) == []
    # EXECUTIONS_DATA_MAX_AGE=0 would delete every finished execution at once
    svc = {"inputs": {"counts": {"n8n_executions_max_age_hours": [0, 1], "n8n_executions_max_count": [0, 0]}}}
    assert inputs.service_input_problems("n8n", svc) == [
        "n8n.n8n_executions_max_age_hours: 0 must be a whole number of at least 1"]


@pytest.mark.skipif(LooseVersion(ansible_version) < LooseVersion("2.19"),
                    reason="needs ansible-core 2.19's templating outside a play (see test_tenth_service)")
def test_the_plan_checks_the_roles_retention_variables_before_anything_changes():
    tv = real_plan.task_vars(["postgres", "redis", "litellm", "n8n"], litellm_spend_logs_retention="forever",
                             n8n_executions_max_age_hours=0)
    with pytest.raises(AssertionError) as failed:
        real_plan.plan(tv)
    assert "litellm.litellm_spend_logs_retention: 'forever' is not a period" in str(failed.value)
    assert "n8n.n8n_executions_max_age_hours: 0 must be a whole number of at least 1" in str(failed.value)
