# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Every docker and compose command, bounded in time.

A hung engine (a stuck daemon, a dead NFS mount under a volume) must not hang the run: each command gets a time
limit by what it does, is killed with its whole process group when the limit passes, and reports the category
`command_timeout` naming the command, so a stuck call is never mistaken for a slow service.

`run(argv, env=None, data=None, timeout=None) -> (rc, stdout, stderr)` is thread-safe (AnsibleModule.run_command
changes os.environ while it runs, so threads cannot share it) and matches the runner the compose code expects.
"""
from __future__ import annotations

import os
import signal
import subprocess

TIMEOUT_RC = 124  # what coreutils' timeout(1) returns
NOT_FOUND_RC = 127  # the program is not installed (what a shell returns for a command it cannot find)
ENV_OVERRIDE = "AIPLATFORM_COMMAND_TIMEOUT"  # seconds, for every command (set it through the play's environment)
# Seconds by verb; anything else gets DEFAULT. Pulls move gigabytes; up waits for dependencies inside compose.
LIMITS = {"pull": 3600.0, "up": 900.0, "down": 300.0, "stop": 300.0, "restart": 300.0, "rm": 300.0,
          "create": 300.0, "exec": 120.0, "logs": 60.0}
DEFAULT = 120.0
# Options whose value follows them: skipped when finding the verb and shortening the command for a message.
_WITH_VALUE = {"--project-directory", "-p", "--project-name", "--progress", "-f", "--file", "--format", "-e", "--env",
               "--filter", "--tail", "-u", "--user", "-w", "--workdir", "--env-file", "--profile"}


def verb_of(argv: list[str]) -> str:
    """The docker or compose subcommand of `argv` (`up` in `docker compose -p x up -d`)."""
    skip = False
    for word in argv[1:]:
        if skip:
            skip = False
            continue
        if word in _WITH_VALUE:
            skip = True
        elif word == "compose" or word.startswith("-"):
            continue
        else:
            return word
    return ""


def limit_for(argv: list[str]) -> float:
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        try:
            return max(1.0, float(override))
        except ValueError:
            pass
    return LIMITS.get(verb_of(argv), DEFAULT)


def describe(argv: list[str]) -> str:
    """The command for a message: program, compose, project and verb with its container (no values of -e)."""
    words, skip, verb_seen = [], False, False
    for i, word in enumerate(argv):
        if skip:
            skip = False
            if argv[i - 1] in ("-p", "--project-name"):
                words += ["-p", word]
            continue
        if word in _WITH_VALUE:
            skip = True
        elif i == 0 or word == "compose" or not word.startswith("-"):
            words.append(os.path.basename(word) if i == 0 else word)
            verb_seen = verb_seen or (i > 0 and word != "compose")
            if verb_seen and len(words) >= 6:
                break
    return " ".join(words)


def timed_out_message(argv: list[str], limit: float) -> str:
    return (f"{describe(argv)} did not finish within {limit:g} s and was stopped; the Docker engine may be stuck "
            f"(docker info, journalctl -u docker), or raise {ENV_OVERRIDE}")


def run(argv: list[str], env: dict | None = None, data: str | None = None,
        timeout: float | None = None) -> tuple[int, str, str]:
    """Run `argv` with the process environment plus `env`; (TIMEOUT_RC, out, message) when it exceeds its limit."""
    limit = timeout if timeout is not None else limit_for(argv)
    full = dict(os.environ, COMPOSE_ANSI="never", **(env or {}))
    try:
        proc = subprocess.Popen(argv, env=full, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                start_new_session=True)  # its own process group: a kill reaches compose's plugins
    except OSError as exc:
        return NOT_FOUND_RC if isinstance(exc, FileNotFoundError) else 126, "", f"{describe(argv)}: {exc}"
    try:
        out, errout = proc.communicate(input=data, timeout=limit)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, errout = proc.communicate()
        return TIMEOUT_RC, out or "", ((errout or "") + "\n" + timed_out_message(argv, limit)).strip()
    return proc.returncode, out, errout
