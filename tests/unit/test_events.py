import json

from ansible_collections.aiplatform.stack.plugins.module_utils import events as ev


def test_line_format_and_levels():
    e = ev.make_event(ev.HEALTH_RETRY, "litellm", "not ready:\n HTTP 503", attempt=2)
    line = ev.format_line(e)
    assert ev.LINE_RE.match(line), line
    assert "[WARN] [litellm] not ready: HTTP 503" in line
    assert ev.level_of(ev.DEPLOY_FAIL) == "ERROR"
    assert ev.level_of(ev.HEALTH_TIMEOUT) == "ERROR"
    assert ev.level_of(ev.DEPLOY_START) == "INFO"
    assert json.loads(ev.to_json(e))["attempt"] == 2


def test_redaction_of_known_values_urls_and_assignments():
    r = ev.Redactor({"redis": {"password": "s3cretValue99"}})
    text = r.text("auth s3cretValue99 postgresql://litellm:hunter2hunter@db:5432/x LITELLM_MASTER_KEY=sk-abc123 x")
    assert "s3cretValue99" not in text and "hunter2hunter" not in text and "sk-abc123" not in text
    assert "postgresql://litellm:********@db:5432/x" in text
    assert "LITELLM_MASTER_KEY=********" in text


def test_redaction_leaves_environ_references_alone():
    r = ev.Redactor()
    assert r.text("master_key: os.environ/LITELLM_MASTER_KEY") == "master_key: os.environ/LITELLM_MASTER_KEY"


def test_redact_nested_data():
    r = ev.Redactor(["topsecret-1"])
    assert r.data({"a": ["x topsecret-1"], "b": 3}) == {"a": ["x ********"], "b": 3}
