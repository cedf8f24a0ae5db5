"""Hostile inventory values on the real engine: rejected before any change, or carried as one literal value; and
PostgreSQL never sees an application's password, even when it logs every statement."""
import json
import os

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev

from .conftest import docker

APPS = ["postgres", "redis", "n8n"]


def test_injected_compose_keys_are_rejected_before_anything_changes(platform):
    run = platform.deploy({
        "n8n_extra_env": {'FOO: "x"\nprivileged: true\ncap_add: [ALL]\npid: host': "x"},
        "n8n_bind_address": "127.0.0.1\nprivileged: true",
        "n8n_database_name": "platform",
        "aiplatform_services": APPS,
    })
    assert run.rc != 0
    text = "\n".join(e["message"] for e in run.of(ev.CONFIG_INVALID))
    assert "n8n.n8n_extra_env[" in text and "not an environment variable name" in text
    assert "n8n.ports.http.bind (n8n_bind_address)" in text and "is not an IP address" in text
    assert "n8n.database.name: 'platform' is PostgreSQL's own" in text
    assert not run.of(ev.DEPLOY_START)
    assert not os.path.exists(os.path.join(platform.base_dir, "n8n"))


def test_quote_and_newline_in_a_vault_secret_stay_one_value(platform):
    hostile = "it's\nINJECTED=1 $HOME `id` \\"
    run = platform.deploy({"aiplatform_services": ["postgres", "redis", "litellm"],
                           "litellm_extra_secrets": {"HOSTILE_SECRET": hostile}})
    assert run.rc == 0, run.stdout[-3000:]
    env = json.loads(docker("inspect", "-f", "{{json .Config.Env}}", "aiplatform-litellm").stdout)
    assert f"HOSTILE_SECRET={hostile}" in env
    assert not any(item.startswith("INJECTED=") for item in env)
    # and the callback never wrote it, nor its lines
    logged = open(os.path.join(run.log_dir, "aiplatform.log")).read() + open(os.path.join(run.log_dir, "events.jsonl")).read()
    assert "INJECTED=1 $HOME" not in logged


def test_postgresql_logs_no_password_with_log_statement_all(platform):
    run = platform.deploy({"aiplatform_services": ["postgres", "redis"]})
    assert run.rc == 0, run.stdout[-3000:]
    admin = ["exec", "-i", "aiplatform-postgres", "psql", "-U", "platform", "-d", "platform", "-v", "ON_ERROR_STOP=1"]
    docker(*admin, "-c", "ALTER SYSTEM SET log_statement = 'all'")
    docker(*admin, "-c", "SELECT pg_reload_conf()")
    run = platform.deploy({"aiplatform_services": APPS})  # creates n8n's role and database
    assert run.rc == 0, run.stdout[-3000:]
    # a changed password: the role is altered, again with a verifier only
    secrets_file = os.path.join(platform.base_dir, "secrets", "n8n.json")
    stored = json.load(open(secrets_file))
    stored["db_password"] = "Rotated-password-0042"
    json.dump(stored, open(secrets_file, "w"))
    run = platform.deploy({"aiplatform_services": APPS})
    assert run.rc == 0, run.stdout[-3000:]
    logs = docker("logs", "aiplatform-postgres")
    server_log = logs.stdout + logs.stderr
    assert 'CREATE ROLE "n8n" LOGIN PASSWORD \'SCRAM-SHA-256$4096:' in server_log  # the log really has statements
    assert 'ALTER ROLE "n8n" WITH LOGIN PASSWORD \'SCRAM-SHA-256$4096:' in server_log
    for secret in platform.secrets() + ["Rotated-password-0042"]:
        assert secret not in server_log
    # the application logs in with the password the verifier was made from
    assert run.of(ev.HEALTH_SUCCESS, "n8n")
