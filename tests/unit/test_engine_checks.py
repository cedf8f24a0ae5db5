"""Engine-side checks: a missing image is named; an engine that does not answer is not taken for a missing image;
all present is one call; networks that exist are one call too."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.aiplatform.stack.plugins.module_utils.compose import Compose
from ansible_collections.aiplatform.stack.plugins.module_utils.engine_checks import ensure_networks, missing_images

DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
IMAGES = ["aiplatform-lab/postgres:current", "aiplatform-lab/redis:current"]


def engine(answer, calls=None):
    """A docker CLI that answers every call with answer(argv)."""
    def run(argv, data=None, env=None):
        if calls is not None:
            calls.append(argv)
        return answer(argv)
    return Compose(run, "/opt/aiplatform/postgres", "aiplatform-postgres")


def test_an_image_the_engine_does_not_have_is_named():
    gone = "aiplatform-lab/postgres:current"
    problem = missing_images(engine(lambda argv: (1, "", f"Error: No such image: {gone}") if gone in argv
                                    else (0, "sha256:1", "")), IMAGES)
    assert problem["category"] == "image" and problem["cause"] == f"image not present on this host: {gone}"


def test_an_engine_that_does_not_answer_is_an_engine_failure_not_a_missing_image():
    problem = missing_images(engine(lambda argv: (1, "", DOWN)), IMAGES)
    assert problem["category"] == "engine" and "docker daemon" in problem["cause"]


def test_present_images_are_no_problem_and_one_call():
    calls = []
    assert missing_images(engine(lambda argv: (0, "sha256:1\nsha256:2\n", ""), calls), IMAGES) is None
    assert len(calls) == 1 and all(i in calls[0] for i in IMAGES)


def test_existing_networks_are_one_call_and_a_missing_one_is_created():
    calls = []
    assert ensure_networks(engine(lambda argv: (0, "aiplatform\n", ""), calls), ["aiplatform", "other"]) == []
    assert len(calls) == 1
    calls.clear()
    made = ensure_networks(engine(lambda argv: (1, "", "Error: No such network: other") if "inspect" in argv and
                                  "other" in argv else (0, "", ""), calls), ["aiplatform", "other"])
    assert made == ["other"] and ["docker", "network", "create", "--label", "aiplatform.stack.network=true",
                                  "other"] in calls


def test_projects_that_share_a_network_create_it_once_when_they_come_up_together():
    # an engine like Debian's 20.10: a create only fails when the name exists already, and checking takes a moment
    made, lock = [], threading.Lock()

    def answer(argv):
        if "inspect" in argv:
            with lock:
                found = all(n in made for n in argv[5:])
            time.sleep(0.01)  # the answer travels back while another thread goes on
            return (0, "", "") if found else (1, "", "Error: No such network")
        with lock:
            made.append(argv[-1])
        return 0, "", ""

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda dummy: ensure_networks(engine(answer), ["aiplatform-redis.litellm"]), range(4)))
    assert made == ["aiplatform-redis.litellm"]
