"""Secrets are masked by value (in every form they get printed in) and by pattern, before anything is written."""
import json
import os
import signal
from urllib.parse import quote, quote_plus

import pytest

from ansible_collections.aiplatform.stack.plugins.callback.platform_log import CallbackModule
from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev
from ansible_collections.aiplatform.stack.plugins.module_utils import inputs
from ansible_collections.aiplatform.stack.plugins.module_utils.deploy_step import run_step


def present_many(projects, pull, networks, check_mode=False, run=None):
    """Several projects in one deploy step (as the scheduler sends them), results in input order with `name`."""
    part = "check" if check_mode else "up"
    request = {part: [dict(p, service=p["name"]) for p in projects], "pull": pull, "networks": networks}
    out = run_step(request, check_mode=check_mode, run=run)[part]
    return [dict(out[p["name"]], name=p["name"]) for p in projects]


# (secret the run loaded, text that reaches a log line, what must not survive)
BY_VALUE = [
    pytest.param("k9Z", "redis said: wrong password k9Z for default", "k9Z", id="short"),
    pytest.param("p@ss@word", "postgresql://n8n:p@ss@word@aiplatform-postgres:5432/n8n refused", "ss@word", id="at-in-dsn"),
    pytest.param("it's\"q", 'env: LINE="it\'s\\"q" rejected', "it's", id="quotes-env-escaped"),
    pytest.param("it's\nX=1", 'compose: invalid value "it\'s\\nX=1"', "X=1", id="quote-newline-json-escaped"),
    pytest.param("pa ss/wörd+1", "GET /login?pw=" + quote("pa ss/wörd+1", safe="") + " 401", "w%C3%B6rd", id="url-encoded"),
    pytest.param("pa ss/wörd+1", "form pw=" + quote_plus("pa ss/wörd+1", safe=""), "w%C3%B6rd", id="form-encoded"),
    pytest.param("Zq0123456789abcdef", "value Zq0123456789abcdef in a plain sentence", "Zq0123456789", id="plain-long"),
]
BY_PATTERN = [
    pytest.param('{"password": "hunter2-\\"x"}', "hunter2", id="json-member"),
    pytest.param('{"db_password":"hunter2"}', "hunter2", id="json-member-tight"),
    pytest.param("Authorization: Bearer sk-1234567890abcdef", "sk-1234567890abcdef", id="bearer"),
    pytest.param("requirepass s3cr3tRedis", "s3cr3tRedis", id="requirepass"),
    pytest.param("N8N_ENCRYPTION_KEY=abcdef0123456789", "abcdef0123456789", id="digit-in-name"),
    pytest.param("export DB_POSTGRESDB_PASSWORD='x y z'", "x y z", id="quoted-assignment"),
    pytest.param("redis://:rEdIsPw@redis:6379/0", "rEdIsPw", id="url-empty-user"),
    pytest.param("mysql://u:p@ss@db/x", "ss@db", id="dsn-at-unknown-secret"),
    pytest.param("SIG_SALT: 0123456789abcdef", "0123456789abcdef", id="salt"),
]


@pytest.mark.parametrize("secret, text, leaked", BY_VALUE)
def test_masked_by_value(secret, text, leaked):
    r = ev.Redactor({"svc": {"k": secret}})
    out = r.text(text)
    assert leaked not in out and ev.Redactor.MASK in out, out


@pytest.mark.parametrize("text, leaked", BY_PATTERN)
def test_masked_by_pattern(text, leaked):
    out = ev.Redactor().text(text)
    assert leaked not in out and ev.Redactor.MASK in out, out


def test_a_short_secret_is_masked_as_a_word_only():
    r = ev.Redactor(["k9Z"])
    assert r.text("k9Z") == "********" and r.text("xk9Zx stays") == "xk9Zx stays"


@pytest.mark.parametrize("text", ["litellm.litellm_models[0].litellm_params[api_key]: holds a literal secret",
                                  "master_key: os.environ/LITELLM_MASTER_KEY", "n8n healthy after 3 attempts",
                                  "Bind for 127.0.0.1:4000 failed: port is already allocated"])
def test_ordinary_messages_are_left_alone(text):
    assert ev.Redactor(["abcdef123"]).text(text) == text


def test_keys_of_event_data_are_redacted_too():
    assert ev.Redactor(["secret-value-1"]).data({"secret-value-1": 1}) == {"********": 1}


class Display:
    verbosity = 0

    def __init__(self):
        self.lines = []

    def display(self, msg, *a, **k):
        self.lines.append(msg)


class VariableManager:
    def __init__(self):
        self._nonpersistent_fact_cache = {}


class Play:
    def __init__(self, vm):
        self.vm = vm

    def get_variable_manager(self):
        return self.vm


@pytest.fixture
def cb(tmp_path):
    c = CallbackModule(display=Display())
    c._plugin_options = {"log_dir": str(tmp_path), "log_file": "a.log", "events_file": "e.jsonl",
                         "console": True, "run_id": "r1", "report": False, "keep_reports": 10,
                         "max_events_mb": 50}
    c._run_id = "r1"
    yield c
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)


def test_the_callback_masks_the_secrets_the_run_loaded(cb, tmp_path):
    vm = VariableManager()
    cb.v2_playbook_on_play_start(Play(vm))
    cb.record(ev.make_event(ev.DEPLOY_START, "redis", "deploying"))
    # prepare.yml sets these facts; nothing of them is ever written
    vm._nonpersistent_fact_cache["h1"] = {"aiplatform_secrets": {"redis": {"password": "Rd5"}},
                                          "aiplatform_vault_secrets": {"OPENAI_API_KEY": "it's\nsk-vault"}}
    cb.record(ev.make_event(ev.DEPLOY_FAIL, "redis", "auth Rd5 refused; compose: \"it's\\nsk-vault\" bad",
                            cause="Rd5", logs=["requirepass Rd5", "echo it's\nsk-vault"]))
    text = (tmp_path / "a.log").read_text() + (tmp_path / "e.jsonl").read_text() + "\n".join(cb._display.lines)
    assert "Rd5" not in text and "sk-vault" not in text
    assert text.count(ev.Redactor.MASK) >= 4
    assert all("Rd5" not in (tmp_path / name).read_text() for name in os.listdir(tmp_path))


class EchoingCompose:
    """compose that echoes an env file's value in its error (what it does for a bad env file line)."""

    def __init__(self, secret):
        self.secret = secret

    def __call__(self, argv, env=None):
        if "config" in argv and "--format" in argv:
            return 1, "", json.dumps({"error": True, "message": "failed to read env: unexpected " + json.dumps(self.secret)})  # Go %q quoting
        return 0, "", ""


@pytest.mark.parametrize("secret", ["it's\"quoted", "pw@with@at", "x$y\\z", "Short"])
def test_compose_never_echoes_a_private_file_value_into_a_result(secret, tmp_path):
    files = {"compose.yml": {"content": "services: {}\n", "mode": "0644"},
             "app.env": {"content": f"SECRET={inputs.env_quote(secret)}\n", "mode": "0600"}}
    [result] = present_many([{"name": "app", "project_src": str(tmp_path / "p"), "project_name": "p", "files": files}],
                            pull="never", networks=[], run=EchoingCompose(secret))
    assert result["failed"] and secret not in json.dumps(result) and secret not in str(result)
    assert ev.Redactor.MASK in result["cause"]


def test_env_file_values_read_back_what_env_quote_wrote():
    values = ["plain", "it's", 'a"b', "x$y", "back\\slash", "new\nline", "cr\r"]
    text = "".join(f"K{i}={inputs.env_quote(v)}\n" for i, v in enumerate(values)) + "# comment\n"
    assert inputs.env_file_values(text) == values
