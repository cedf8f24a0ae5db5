# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Each application's own LiteLLM virtual key, registered by the deploy with LiteLLM's master key.

The key values are generated per install like every secret (`key_<application>` in LiteLLM's secrets file), so an
application's environment is rendered before LiteLLM runs; here they are made known to LiteLLM (database mode) as
soon as it answers its probe, before it counts as healthy, so the applications start with a registered key.

LiteLLM's key API (read against 1.108.7, proxy/management_endpoints/key_management_endpoints.py), every call with
`Authorization: Bearer <master key>`:
- GET /key/info?key=<sha256 of the key>: 200 {key, info: {key_alias, models, status, ...}}; `status` is active,
  expired, revoked (blocked) or deleted (a deleted key is served from the archive); 404 when never known.
- POST /key/generate {key, key_alias, models, metadata}: 200 {key, ...}; 400 "Key with alias '...' already exists"
  when another key holds the alias (aliases are unique).
- POST /key/update {key, models}; POST /key/delete {key_aliases: [...]}.

The alias is the application's name and belongs to the platform: a key under it with another value (the stored one
was rotated) is deleted and replaced. The outcome never carries a key.
"""
from __future__ import annotations

import hashlib
import time

from . import errors as err
from .first_admin import Http, UnexpectedAnswerError, retry_unreachable

MANAGED_BY = {"managed_by": "aiplatform.stack"}


class MasterKeyRefusedError(RuntimeError):
    """LiteLLM refused the master key the platform stored for it."""


def key_hash(key: str) -> str:
    """LiteLLM's name for a key in URLs and logs (hash_token: sha256 hex), so the key itself is never sent in one."""
    return hashlib.sha256(key.encode()).hexdigest()


def _message(doc: object) -> str:
    if isinstance(doc, dict):
        inner = doc.get("error") if isinstance(doc.get("error"), dict) else doc
        text = inner.get("message") or inner.get("detail") or inner.get("error") or ""
    else:
        text = doc or ""
    return " ".join(str(text).split())[:160]


def _answer(what: str, status: int, doc: object) -> RuntimeError:
    if status in (401, 403):
        return MasterKeyRefusedError(f"{what}: HTTP {status}: {_message(doc)}")
    return UnexpectedAnswerError(f"{what}: HTTP {status}" + (f": {_message(doc)}" if _message(doc) else ""))


def key_info(http, auth: dict, key: str) -> dict | None:
    """The key's info as LiteLLM holds it; None when it does not know it (never registered, or deleted)."""
    status, doc = http("GET", f"/key/info?key={key_hash(key)}", headers=auth)
    if status == 404:
        return None
    if status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("info"), dict):
        raise _answer("GET /key/info", status, doc)
    return None if doc["info"].get("status") == "deleted" else doc["info"]


def _register(http, auth: dict, item: dict) -> str:
    body = {"key": item["key"], "key_alias": item["alias"], "models": list(item["models"]), "metadata": MANAGED_BY}
    status, doc = http("POST", "/key/generate", body, headers=auth)
    if status == 200:
        return "registered"
    if status == 400 and "already exists" in _message(doc):
        # the alias holds another value: the stored key was rotated (or someone took the platform's alias)
        status, doc = http("POST", "/key/delete", {"key_aliases": [item["alias"]]}, headers=auth)
        if status != 200:
            raise _answer("POST /key/delete", status, doc)
        status, doc = http("POST", "/key/generate", body, headers=auth)
        if status == 200:
            return "replaced"
    raise _answer("POST /key/generate", status, doc)


def ensure_key(item: dict, http, auth: dict, check_mode: bool = False) -> str:
    """One application's key: verified, registered, replaced, updated (its models), or would_* in check mode."""
    info = key_info(http, auth, item["key"])
    if info is None:
        return "would_register" if check_mode else _register(http, auth, item)
    if info.get("blocked") or info.get("status") in ("revoked", "expired"):
        state = "blocked" if info.get("blocked") else info["status"]
        raise UnexpectedAnswerError(f"the key of {item['alias']} is {state} in LiteLLM")
    if sorted(info.get("models") or []) == sorted(item["models"]):
        return "verified"
    if check_mode:
        return "would_update"
    status, doc = http("POST", "/key/update", {"key": item["key"], "models": list(item["models"])}, headers=auth)
    if status != 200:
        raise _answer("POST /key/update", status, doc)
    return "updated"


def ensure_once(spec: dict, http, check_mode: bool = False) -> dict:
    """Every application's key of spec: {ok, changed, actions: {alias: action}, category?, cause?, advice?}.

    Raises UnreachableError (from Http) to be tried again.
    """
    auth = {"Authorization": f"Bearer {spec['master_key']}"}
    actions: dict = {}
    try:
        for item in spec["applications"]:
            actions[item["alias"]] = ensure_key(item, http, auth, check_mode)
    except MasterKeyRefusedError as exc:
        return {"ok": False, "changed": False, "category": err.CONFIG, "actions": actions,
                "cause": f"virtual keys: LiteLLM refuses its master key ({exc})",
                "advice": f"LITELLM_MASTER_KEY must be master_key in {spec.get('secrets_file') or 'litellm.json'}; "
                          "do not set it in litellm_extra_env or litellm_extra_secrets"}
    except UnexpectedAnswerError as exc:
        return {"ok": False, "changed": False, "category": err.UNKNOWN, "actions": actions,
                "cause": f"virtual keys: {exc}",
                "advice": "a key blocked or expired in LiteLLM is left so: unblock it, or rotate it (delete its "
                          "key_<application> from litellm.json and re-run); otherwise read LiteLLM's log"}
    return {"ok": True, "changed": any(a != "verified" for a in actions.values()), "actions": actions}


def ensure(spec: dict, base: str, check_mode: bool = False, wait: float = 30.0, opener=None,
           clock=time.monotonic, sleep=time.sleep) -> dict:
    """ensure_once, tried again while LiteLLM does not answer (or answers 5xx), for at most `wait` s."""
    http = Http(base, opener=opener)
    return retry_unreachable(lambda: ensure_once(spec, http, check_mode), "virtual keys", wait, clock, sleep)
