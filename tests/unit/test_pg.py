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
