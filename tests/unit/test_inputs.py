"""Hostile inventory values: rejected at plan time, or quoted so that they cannot rewrite a compose or env file."""
import json
import os
import re

import jinja2
import pytest
import yaml

from ansible_collections.aiplatform.stack.plugins.filter import platform as platform_filters
from ansible_collections.aiplatform.stack.plugins.module_utils import inputs
from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
GROUPS = {"aiplatform": ["h1"]}

INJECTION = 'x"\nprivileged: true\ncap_add: [ALL]\npid: host'
HOSTILE_VALUES = [
    pytest.param(INJECTION, id="newline+yaml"),
    pytest.param("it's a 'quote'", id="single-quotes"),
    pytest.param('say "hi" \\"', id="double-quotes"),
    pytest.param("$HOME ${PATH:-x} $$ $", id="dollar"),
    pytest.param("`id` $(id)", id="backticks"),
    pytest.param("back\\slash\\", id="trailing-backslash"),
    pytest.param("\\'", id="backslash-quote"),
    pytest.param("ünïcödé ✓ 😀 \u2028 \u2029 \x7f \x85 \ufeff", id="unicode"),
    pytest.param("a\r\nb\tc\x1b[31m", id="controls"),
    pytest.param(" #not a comment ", id="hash-and-spaces"),
    pytest.param("yes", id="yaml-bool-word"),
    pytest.param("0x1f", id="yaml-number"),
    pytest.param("-" + "A" * 65536, id="64KiB"),
]
HOSTILE_KEYS = [
    pytest.param('FOO: "x"\nprivileged: true', id="newline+yaml"),
    pytest.param("FOO\n", id="trailing-newline"),
    pytest.param("1ABC", id="leading-digit"),
    pytest.param("A-B", id="dash"),
    pytest.param("A B", id="space"),
    pytest.param("", id="empty"),
    pytest.param("ÄBC", id="unicode"),
    pytest.param("A=B", id="equals"),
    pytest.param("${X}", id="dollar"),
]


def to_bool(value):
    """Ansible's `bool` filter."""
    return value if isinstance(value, bool) else str(value).strip().lower() in ("yes", "on", "1", "true", "y")


def ansible_like_env():
    """Jinja with the collection's filters under their FQCN (Jinja accepts dotted filter names)."""
    # compose and env files, not HTML: no autoescape (as in Ansible's own templating)
    e = jinja2.Environment(loader=jinja2.FileSystemLoader(  # noqa: S701
        [os.path.join(ROOT, "roles", r, "templates") for r in ("aiplatform", "n8n", "litellm")]),
        keep_trailing_newline=True)
    e.filters.update({"aiplatform.stack.yaml_quote": inputs.yaml_quote, "aiplatform.stack.env_quote": inputs.env_quote,
                      "aiplatform.stack.env_name": inputs.env_name, "to_json": json.dumps, "bool": to_bool,
                      "aiplatform.stack.link_networks": platform_filters.link_networks,
                      "aiplatform.stack.public_url": platform_filters.public_url,
                      "combine": lambda *ds: {k: v for d in ds for k, v in d.items()},
                      "to_nice_yaml": lambda v, indent=2: yaml.safe_dump(v, indent=indent)})
    return e


# -- compose-go's env-file reading, ported for the round trip (compose-spec/compose-go dotenv/parser.go) -------------
_ESCAPES = re.compile(r'(\\(?:[abcfnrtv$"\\]|0\d{0,3}))')
_GO = {"a": "\a", "b": "\b", "c": "c", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}


def read_env_file(text):
    out, src = {}, text
    while True:
        src = src.lstrip()
        if not src:
            return out
        key, rest = src.split("=", 1)
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+", key), key
        quote = rest[:1]
        if quote not in ("'", '"'):
            value, dummy, src = rest.partition("\n")
            out[key] = value.split(" #")[0].rstrip()
            continue
        chars, escape, i = [], False, 1
        while True:
            assert i < len(rest), "unterminated quoted value"
            c = rest[i]
            if c != quote:
                if not escape and c == "\\":
                    escape = True
                else:
                    if escape:
                        escape = False
                        chars.append("\\")
                    chars.append(c)
            elif escape:
                escape = False
                chars.append(c)
            else:
                break
            i += 1
        value = "".join(chars)
        if quote == '"':
            value = _ESCAPES.sub(lambda m: "$$" if m[0] == "\\$" else _GO.get(m[0][1], m[0]), value)
            assert not re.search(r"(?<!\$)\$(?!\$)", value.replace("$$", "")), "unescaped $ would interpolate"
            value = value.replace("$$", "$")
        out[key] = value
        src = rest[i + 1:]
        assert src[:1] in ("", "\n"), f"text after the value on its line: {src[:20]!r}"


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_yaml_quote_reads_back_as_the_same_one_string(value):
    doc = yaml.safe_load(f"environment:\n  KEY: {inputs.yaml_quote(value)}\n")
    assert doc == {"environment": {"KEY": value}}
    plain = inputs.yaml_quote(value, plain=True)
    assert yaml.safe_load(f"k: {plain}\n") == {"k": value}


@pytest.mark.parametrize("value", ["ghcr.io/berriai/litellm:main-v1.80.5", "unless-stopped", "n8n", "platform"])
def test_yaml_quote_plain_keeps_ordinary_values_as_they_were(value):
    assert inputs.yaml_quote(value, plain=True) == value


@pytest.mark.parametrize("value", ["true", "NO", "null", "1.5", "a: b", "-x", "x:", "@x"])
def test_yaml_quote_plain_quotes_what_yaml_would_reinterpret(value):
    assert inputs.yaml_quote(value, plain=True).startswith('"')


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_env_quote_keeps_the_value_on_its_line_and_literal(value):
    text = f"A='plain'\nKEY={inputs.env_quote(value)}\nZ=last\n"
    assert read_env_file(text) == {"A": "plain", "KEY": value, "Z": "last"}


def test_env_quote_leaves_generated_secrets_as_they_were_rendered():
    # the same bytes as before the change: no config-hash churn, no restart on upgrade
    for value in ("sk-AbC123xyz", "Zx9" * 10, "postgresql://litellm:pw@aiplatform-postgres:5432/litellm"):
        assert inputs.env_quote(value) == f"'{value}'"


def test_env_quote_rejects_nul_without_showing_the_value():
    with pytest.raises(inputs.InputError) as exc:
        inputs.env_quote("secret\x00value")
    assert "secret" not in str(exc.value)


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_environment_keys_are_config_invalid(key):
    svc = {"name": "n8n", "type": "workflow", "images": {"n8n": "n8n:1.0"}, "probe": {"type": "tcp"}, "ports": [],
           "inputs": {"env": {"n8n_extra_env": {key: "x", "GOOD": "y"}}}}
    problems = catalog.validate({"n8n": svc}, ["n8n"], GROUPS)
    assert len(problems) == 1, problems
    assert problems[0].startswith("n8n.n8n_extra_env[") and "not an environment variable name" in problems[0]
    with pytest.raises(inputs.InputError):
        inputs.env_name(key)


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_environment_values_pass_the_plan_because_they_are_quoted(value):
    assert inputs.env_problems("n8n.n8n_extra_env", {"FOO": value}, "fix") == []


@pytest.mark.parametrize("value, expected", [
    ({"a": 1}, "must be a string, number or boolean"),
    ("x\x00y", "NUL byte"),
])
def test_environment_values_that_cannot_be_written(value, expected):
    assert expected in inputs.env_problems("n8n.n8n_extra_env", {"FOO": value}, "fix")[0]


def test_secret_env_keys_are_checked_but_never_their_values():
    svc = {"name": "litellm", "type": "proxy", "images": {"litellm": "l:1"}, "probe": {"type": "tcp"},
           "inputs": {"env_keys": {"litellm_extra_secrets": ["OPENAI_API_KEY", "BAD\nKEY"]}}}
    problems = catalog.validate({"litellm": svc}, ["litellm"], GROUPS)
    assert problems == ["litellm.litellm_extra_secrets['BAD\\nKEY']: not an environment variable name (letters, digits "
                        "and _, not starting with a digit); fix litellm_extra_secrets in the vault"]


def test_container_env_of_an_unknown_container():
    svc = {"name": "dify", "type": "application", "images": {"api": "d:1"}, "probe": {"type": "tcp"},
           "inputs": {"env_by_container": {"dify_container_env": {"apii": {"A": "1"}, "web": {"1X": "y"}}},
                      "containers": ["api", "web"]}}
    problems = catalog.validate({"dify": svc}, ["dify"], GROUPS)
    assert [p.split(":")[0] for p in problems] == ["dify.dify_container_env['apii']", "dify.dify_container_env.web['1X']"]


@pytest.mark.parametrize("bind, ok", [
    ("127.0.0.1", True), ("::1", True), ("0.0.0.0", True), ("10.1.2.3", True),
    ("127.0.0.1\nprivileged: true", False), ("localhost", False), ("127.0.0.1:80", False), ("", True), (None, True),
    ("127.0.0.1 ", False),
])
def test_bind_addresses_are_ip_addresses(bind, ok):
    svc = {"name": "n8n", "type": "workflow", "images": {"n8n": "n8n:1.0"}, "probe": {"type": "tcp"},
           "ports": [{"name": "http", "container": 5678, "published": 5678, "bind": bind}]}
    problems = catalog.validate({"n8n": svc}, ["n8n"], GROUPS)
    assert (problems == []) is ok, problems
    if not ok:
        assert problems[0].startswith("n8n.ports.http.bind (n8n_bind_address): ")


def test_image_with_a_trailing_newline_is_rejected():
    svc = {"name": "a", "type": "proxy", "images": {"a": "a:1.0\n"}, "probe": {"type": "tcp"}}
    assert "is not a valid image reference" in catalog.validate({"a": svc}, ["a"], GROUPS)[0]


def pg(user="platform", db="platform"):
    return {"name": "postgres", "type": "infrastructure", "images": {"postgres": "pg:16"}, "probe": {"type": "tcp"},
            "admin": {"user": user, "database": db},
            "inputs": {"pg_names": {"postgres_admin_user": user, "postgres_admin_db": db}}}


def app(name, db):
    return {"name": name, "type": "application", "images": {name: f"{name}:1"}, "probe": {"type": "tcp"},
            "database": {"name": db, "owner": db}}


@pytest.mark.parametrize("db, expected", [
    ("n8n\n", "is not a valid PostgreSQL name"),
    ('n8n"; DROP ROLE platform; --', "is not a valid PostgreSQL name"),
    ("N8N", "is not a valid PostgreSQL name"),
    ("a" * 64, "is not a valid PostgreSQL name"),
    ("platform", "is PostgreSQL's own"),
    ("postgres", "is PostgreSQL's own"),
    ("template1", "is PostgreSQL's own"),
])
def test_database_names(db, expected):
    problems = catalog.validate({"postgres": pg(), "n8n": app("n8n", db)}, ["postgres", "n8n"], GROUPS)
    assert len(problems) == 1 and problems[0].startswith("n8n.database.") and expected in problems[0], problems


def test_a_database_claimed_by_two_applications():
    cat = {"postgres": pg(), "n8n": app("n8n", "shared"), "flowise": app("flowise", "shared")}
    problems = catalog.validate(cat, ["postgres", "n8n", "flowise"], GROUPS)
    assert problems == ["flowise.database.name: database 'shared' is also claimed by n8n.database; two applications "
                        "would share one role and password; set flowise_database_name (or its role's database "
                        "variable) to another name"]


@pytest.mark.parametrize("user", ["platform\n", "Platform", "plat-form", "", "a" * 64])
def test_admin_user_full_match(user):
    problems = catalog.validate({"postgres": pg(user=user)}, ["postgres"], GROUPS)
    assert any(p.startswith("postgres.postgres_admin_user: ") for p in problems), problems


def test_custom_service_environment_and_name():
    custom = catalog.custom_services({"My Svc": {"image": "x:1", "environment": {"A\nB": "1"}}}, "/t")
    problems = catalog.validate(custom, ["My Svc"], GROUPS)
    assert any("aiplatform_custom_services.My Svc.environment['A\\nB']" in p for p in problems), problems
    assert any(p.startswith("My Svc.aiplatform_custom_services.My Svc: 'My Svc' is not a valid name") for p in problems)


# -- the templates themselves: a hostile value stays one value --------------------------------------------------------
N8N_VARS = {
    "aiplatform_restart_policy": "unless-stopped", "aiplatform_log_max_size": "10m", "aiplatform_log_max_file": 3,
    "aiplatform_network": "aiplatform", "aiplatform_bind_address": "127.0.0.1",
    "n8n_service": {"project": "aiplatform-n8n", "container": "aiplatform-n8n",
                    "ports": [{"name": "http", "container": 5678, "published": 5678, "bind": "127.0.0.1"}],
                    "hardening": {"n8n": {"cap_add": [], "read_only": True, "tmpfs": ["/tmp"], "pids_limit": 64}}},
    "n8n_image": "n8nio/n8n:1.0", "n8n_postgres": {"host": "aiplatform-postgres", "port": 5432},
    "n8n_database_name": "n8n", "n8n_webhook_url": "", "n8n_bind_address": "127.0.0.1", "n8n_published_port": 5678,
    "n8n_timezone": "UTC", "n8n_queue_mode": False, "n8n_resources": {"memory": '1g"\nprivileged: true'},
}


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_rendered_compose_keeps_a_hostile_value_inside_its_string(value):
    text = ansible_like_env().get_template("compose.yml.j2").render(
        dict(N8N_VARS, n8n_extra_env={"FOO": value, "BAR": 1}))
    service = yaml.safe_load(text)["services"]["n8n"]
    assert not {"privileged", "cap_add", "pid"} & set(service)
    assert service["environment"]["FOO"] == value.replace("$", "$$")  # compose turns $$ back into $
    assert service["environment"]["BAR"] == "1"
    assert service["deploy"]["resources"]["limits"]["memory"] == '1g"\nprivileged: true'


def test_rendered_compose_is_unchanged_for_ordinary_values():
    text = ansible_like_env().get_template("compose.yml.j2").render(
        dict(N8N_VARS, n8n_resources={}, n8n_extra_env={"N8N_LOG_LEVEL": "debug"}))
    assert "    image: n8nio/n8n:1.0\n" in text
    assert '      N8N_LOG_LEVEL: "debug"\n' in text
    assert '    restart: unless-stopped\n' in text and '      - "127.0.0.1:5678:5678"\n' in text


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_rendered_env_file_keeps_a_hostile_secret_on_its_line(value):
    text = ansible_like_env().get_template("litellm.env.j2").render(
        aiplatform_secrets={"litellm": {"master_key": "sk-master", "salt_key": "sk-salt", "db_password": "pw"}},
        litellm_database_enabled=True, litellm_database_name="litellm",
        litellm_postgres={"host": "aiplatform-postgres", "port": 5432}, litellm_redis_enabled=False,
        litellm_extra_secrets={"OPENAI_API_KEY": value, "Z_LAST": "z"})
    assert read_env_file(text) == {
        "LITELLM_MASTER_KEY": "sk-master", "LITELLM_SALT_KEY": "sk-salt", "OPENAI_API_KEY": value, "Z_LAST": "z",
        "DATABASE_URL": "postgresql://litellm:pw@aiplatform-postgres:5432/litellm"}


def test_rendered_env_file_refuses_a_hostile_key():
    with pytest.raises(inputs.InputError):
        ansible_like_env().get_template("litellm.env.j2").render(
            aiplatform_secrets={"litellm": {"master_key": "k", "salt_key": "s"}}, litellm_database_enabled=False,
            litellm_redis_enabled=False, litellm_extra_secrets={"A\nprivileged": "x"})


def test_rendered_compose_keeps_a_hostile_key_one_key():
    # the plan rejects such a key; the template still cannot be talked into adding a compose key
    text = ansible_like_env().get_template("compose.yml.j2").render(
        dict(N8N_VARS, n8n_extra_env={INJECTION: "x"}))
    service = yaml.safe_load(text)["services"]["n8n"]
    assert not {"privileged", "cap_add", "pid"} & set(service)
    assert service["environment"][INJECTION] == "x"


def test_only_secret_values_of_an_env_file_are_masked_in_what_compose_prints():
    from ansible_collections.aiplatform.stack.plugins.module_utils.events import Redactor
    text = ("REDIS_USERNAME=litellm\nREDIS_HOST=redis\nREDIS_PASSWORD='s3cr3t-value'\n"
            "REDIS_URL='redis://openwebui:p%40ss-word-1@redis:6379/0'\n")
    kept = inputs.env_file_values(text, Redactor.secret_name) + inputs.url_passwords(inputs.env_file_values(text))
    assert "s3cr3t-value" in kept and "p@ss-word-1" in kept and "p%40ss-word-1" in kept
    assert "litellm" not in kept and "redis" not in kept
