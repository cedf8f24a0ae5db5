import re

import pytest

from ansible_collections.aiplatform.stack.plugins.module_utils import pg

# Recorded from PostgreSQL 15: CREATE ROLE fixture_role LOGIN PASSWORD 'fixture-password-123'
VERIFIER = ("SCRAM-SHA-256$4096:GQl7rYMYwZa7sWWt1AKxxA==$OgFDd41msy34xaBF/jqgg+BrghRn8+AYCFMw7M/gFSY="
            ":L8pANmuueKk9JrSq456H4W/ztMdWjidJ7NtUTygwr3Y=")


def test_scram_verifier_matches_only_its_password():
    assert pg.scram_matches("fixture-password-123", VERIFIER)
    assert not pg.scram_matches("fixture-password-124", VERIFIER)
    assert not pg.scram_matches("x", "md5abc")
    assert not pg.scram_matches("x", None)


def test_plan_creates_missing_and_leaves_matching_alone():
    wanted = [{"name": "litellm", "password": "fixture-password-123"}]
    sql, changes = pg.plan(wanted, {}, {})
    assert changes == ["created role litellm", "created database litellm"]
    assert sql[0].startswith('CREATE ROLE "litellm" LOGIN PASSWORD')
    sql, changes = pg.plan(wanted, {"litellm": VERIFIER}, {"litellm": "litellm"})
    assert (sql, changes) == ([], [])
    sql, changes = pg.plan([{"name": "litellm", "password": "new-one-000000"}], {"litellm": VERIFIER}, {"litellm": "litellm"})
    assert changes == ["set password of role litellm"]


def test_identifiers_and_literals_are_safe():
    with pytest.raises(ValueError):
        pg.ident('x"; DROP TABLE y; --')
    assert pg.literal("it's") == "'it''s'"


def test_parse_state():
    roles, dbs = pg.parse_state("role|platform|SCRAM...\ndb|platform|platform\ndb|litellm|litellm\n")
    assert roles == {"platform": "SCRAM..."} and dbs == {"platform": "platform", "litellm": "litellm"}


def test_extensions_are_created_only_when_missing():
    sql, changes = pg.extension_plan("dify", ["vector"], {"plpgsql"})
    assert sql == ['CREATE EXTENSION IF NOT EXISTS "vector";'] and changes == ["created extension vector in dify"]
    assert pg.extension_plan("dify", ["vector"], {"plpgsql", "vector"}) == ([], [])


def test_extension_names_are_checked():
    with pytest.raises(ValueError):
        pg.extension_plan("dify", ['vector"; DROP'], set())


def test_verifier_is_the_one_postgresql_computes():
    # same salt and iterations as the recorded verifier: byte for byte what PostgreSQL 15 stored
    salt = pg.base64.b64decode("GQl7rYMYwZa7sWWt1AKxxA==")
    assert pg.scram_verifier("fixture-password-123", salt=salt) == VERIFIER
    fresh = pg.scram_verifier("fixture-password-123")
    assert fresh != VERIFIER and pg.scram_matches("fixture-password-123", fresh)


@pytest.mark.parametrize("password", ["it's", "a\nb", "ünïcödé", "\u00a0spaced\u00ad", "$1`x`\\", "x" * 200])
def test_generated_sql_holds_only_verifiers(password):
    sql, dummy = pg.plan([{"name": "app", "password": password}], {}, {})
    sql += pg.plan([{"name": "app", "password": password}], {"app": VERIFIER}, {"app": "app"})[0]
    assert [s.split(" PASSWORD ")[0] for s in sql if "PASSWORD" in s] == ['CREATE ROLE "app" LOGIN',
                                                                          'ALTER ROLE "app" WITH LOGIN']
    for statement in sql:
        assert password not in statement and pg.literal(password) not in statement
        if "PASSWORD" in statement:
            verifier = re.search(r"PASSWORD '(SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+)';$",
                                 statement)
            assert verifier and pg.scram_matches(password, verifier.group(1))


def test_saslprep_maps_like_postgresql():
    assert pg.saslprep("I\u00adX") == "IX"  # soft hyphen: mapped to nothing
    assert pg.saslprep("a\u00a0b") == "a b"  # no-break space: a space
    assert pg.saslprep("\u2168") == "IX"  # NFKC
    assert pg.saslprep("a\u0007b") == "a\u0007b"  # ASCII: as is
    assert pg.saslprep("\u0627\u0031") == "\u0627\u0031"  # bidi rule broken: the password as is


def test_one_owner_of_two_databases_is_created_once():
    sql, changes = pg.plan([{"name": "a", "owner": "app", "password": "pw-123456"},
                            {"name": "b", "owner": "app", "password": "pw-123456"}], {}, {})
    assert sum(s.startswith("CREATE ROLE") for s in sql) == 1
    assert changes == ["created role app", "created database a", "created database b"]


@pytest.mark.parametrize("wanted, match", [
    ([{"name": "shared", "password": "a"}, {"name": "shared", "password": "b"}], "wanted twice"),
    ([{"name": "platform", "password": "a"}], "admin role"),
    ([{"name": "ok", "owner": "platform", "password": "a"}], "admin role"),
    ([{"name": "app\n", "password": "a"}], "not a valid"),
])
def test_plan_refuses_shared_names_and_the_admin_role(wanted, match):
    with pytest.raises(ValueError, match=match):
        pg.plan(wanted, {}, {}, admin="platform")
