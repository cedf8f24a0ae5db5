# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Failures that waiting cannot cure: a refused login to a dependency, seen again and again.

A wrong Redis password answers WRONGPASS from the first probe; waiting out a 300 s deadline for it helps nobody.
Each pattern names the link and the credential to look at, so the error says what to fix.
"""
from __future__ import annotations

import re

PATTERNS = (
    # Open WebUI's words for a wrong Redis password: "Redis ping failed: auth:AuthenticationError" (before LiteLLM's
    # pattern, which a bare AuthenticationError would match)
    (re.compile(r"WRONGPASS|NOAUTH|invalid username-password pair|redis\b[^\n]*\bauth:?\s*AuthenticationError",
                re.I), "redis",
     "Redis user {service}'s password (user_{service} in <aiplatform_secrets_dir>/redis.json, given to {service}; "
     "its rules in redis_acl_users)"),
    (re.compile(r'password authentication failed for user "?([\w.-]+)', re.I), "postgres",
     "the database password of role {role} (db_password in <aiplatform_secrets_dir>/{service}.json)"),
    (re.compile(r"\b401\b[^\n]*(?:litellm|/v1|api key|unauthori[sz]ed)|invalid api key|AuthenticationError|"
                r"litellm[^\n]*\b401\b", re.I), "litellm",
     "LiteLLM's key given to {service} (master_key in <aiplatform_secrets_dir>/litellm.json)"),
)


def describe(service: str, refused: dict) -> str:
    """The words for a refusal refused_login() found: the link, the evidence and the credential to check."""
    return f"{refused['link']} refuses {service}'s login ({refused['evidence']}); check {refused['credential']}"


def refused_login(service: str, texts: list[str]) -> dict | None:
    """{link, credential, evidence} when one of `texts` (probe detail, log lines) shows a refused login."""
    for text in texts:
        for pattern, link, credential in PATTERNS:
            found = pattern.search(text or "")
            if found:
                role = found.group(1) if found.groups() else ""
                return {"link": link, "credential": credential.format(service=service, role=role),
                        "evidence": " ".join(text.split())[:200]}
    return None
