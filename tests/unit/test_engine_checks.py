"""Engine-side checks: a missing image is named; an engine that does not answer is not taken for a missing image."""
from ansible_collections.aiplatform.stack.plugins.module_utils.compose import Compose
from ansible_collections.aiplatform.stack.plugins.module_utils.engine_checks import missing_images

DOWN = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"


def compose_with(image_answer):
    def run(argv, data=None, env=None):
        if argv[1] == "compose":
            return 0, "aiplatform-lab/postgres:current\n", ""
        return image_answer
    return Compose(run, "/opt/aiplatform/postgres", "aiplatform-postgres")


def test_an_image_the_engine_does_not_have_is_named():
    problem = missing_images(compose_with((1, "", "Error: No such image: aiplatform-lab/postgres:current")), "/x")
    assert problem["category"] == "image" and "aiplatform-lab/postgres:current" in problem["cause"]


def test_an_engine_that_does_not_answer_is_an_engine_failure_not_a_missing_image():
    problem = missing_images(compose_with((1, "", DOWN)), "/x")
    assert problem["category"] == "engine" and "docker daemon" in problem["cause"]


def test_present_images_are_no_problem():
    assert missing_images(compose_with((0, "[{}]", "")), "/x") is None
