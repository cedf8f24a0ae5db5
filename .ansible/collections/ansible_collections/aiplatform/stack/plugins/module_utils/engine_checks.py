# Private to aiplatform.stack: not a public API, it may change in any release (README, "Layout").
"""Engine-side checks of a compose project: the shared networks exist, its images are present."""
from __future__ import annotations

import threading

from . import errors as err
from .compose import Compose, ComposeError


def ensure_networks(compose: Compose, networks: list[str]) -> list[str]:
    """Create the shared external networks that are missing; returns the ones created (one call when none is).

    The projects of one step come up in threads, and two of them may share a link network: the engine lets two
    concurrent creates make two networks of one name (then neither project can join it), so creating is serialised.
    """
    if not networks or compose._run([compose.docker, "network", "inspect", "--format", "{{.Name}}", *networks])[0] == 0:
        return []
    with _CREATING:
        return _create_missing(compose, networks)


_CREATING = threading.Lock()


def _create_missing(compose: Compose, networks: list[str]) -> list[str]:
    created = []
    for name in networks:
        rc, dummy, dummy2 = compose._run([compose.docker, "network", "inspect", "--format", "{{.Name}}", name])
        if rc == 0:
            continue
        argv = [compose.docker, "network", "create", "--label", "aiplatform.stack.network=true", name]
        rc, dummy, errout = compose._run(argv)
        if rc != 0 and "already exists" not in errout:
            raise ComposeError({"category": err.classify(errout) if err.classify(errout) != err.UNKNOWN else err.ENGINE,
                                "cause": errout.strip(), "advice": err.ADVICE[err.ENGINE], "rc": rc})
        created.append(name)
    return created


def missing_images(compose: Compose, images: list[str]) -> dict | None:
    """A failure naming the project's images that are not on the host (air-gapped hosts, pull never); one
    `docker image inspect` when all are there."""
    if not images:
        return None
    rc, dummy, errout = compose._run([compose.docker, "image", "inspect", "--format", "{{.Id}}", *images])
    if rc == 0:
        return None
    missing = []
    for image in images:
        rc, dummy, errout = compose._run([compose.docker, "image", "inspect", "--format", "{{.Id}}", image])
        if rc != 0 and err.classify(errout) == err.ENGINE:  # not a missing image: no engine to ask
            return {"category": err.ENGINE, "cause": errout.strip(), "advice": err.ADVICE[err.ENGINE], "rc": rc}
        if rc != 0:
            missing.append(image)
    if missing:
        return {"category": err.IMAGE, "cause": f"image not present on this host: {', '.join(missing)}",
                "advice": err.ADVICE[err.IMAGE], "rc": 1}
    return None
