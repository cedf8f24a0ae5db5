from ansible_collections.aiplatform.stack.plugins.plugin_utils import config_checks as cc


def test_mistyped_variable_gets_a_suggestion():
    problems = cc.unknown_variables(["litellm_modles", "litellm_models", "postgres_image", "other_var"],
                                    {"litellm": {"litellm_models", "litellm_image"}, "postgres": {"postgres_image"}})
    assert problems == ["litellm.litellm_modles: unknown variable for litellm; did you mean litellm_models?"]


def test_litellm_models_rules():
    models = [
        {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o", "api_key": "os.environ/OPENAI_API_KEY"}},
        {"model_name": "claude", "litellm_params": {"model": "anthropic/x", "api_key": "sk-ant-literal"}},
        {"model_name": "bad"},
        {"litellm_params": {"model": "x"}},
    ]
    problems = cc.litellm_problems(models, ["LITELLM_MASTER_KEY"])
    assert problems[0].startswith("litellm.litellm_models[0].litellm_params[api_key]: references OPENAI_API_KEY")
    assert "add OPENAI_API_KEY to litellm_extra_secrets" in problems[0]
    assert problems[1].startswith("litellm.litellm_models[1].litellm_params[api_key]: holds a literal secret")
    assert "sk-ant-literal" not in problems[1]
    assert problems[2] == "litellm.litellm_models[2].litellm_params.model: missing for model 'bad'"
    assert problems[3].startswith("litellm.litellm_models[3].model_name: missing")
    assert cc.litellm_problems(models[:1], ["OPENAI_API_KEY"]) == []
    assert cc.litellm_problems("nope", [])[0].startswith("litellm.litellm_models: must be a list")


def test_typos_inside_dict_options_name_the_closest_field():
    from ansible_collections.aiplatform.stack.plugins.action.plan_platform import role_options

    options = role_options("postgres")
    problems = cc.option_problems("postgres", options, {
        "postgres_backoff": {"deadlin": 5, "cap": 2}, "postgres_resources": {"memroy": "1g"}})
    assert problems == [
        "postgres.postgres_backoff.deadlin: unknown field of postgres_backoff; did you mean deadline?",
        "postgres.postgres_resources.memroy: unknown field of postgres_resources; did you mean memory?"]
    dify = cc.option_problems("dify", role_options("dify"),
                              {"dify_container_env": {"apii": {}}, "dify_images": {"nginx": "n:1"}})
    assert dify == ["dify.dify_container_env.apii: unknown field of dify_container_env; did you mean api?"]


def test_custom_service_fields_name_the_closest_one():
    from ansible_collections.aiplatform.stack.plugins.plugin_utils import catalog

    cat = catalog.custom_services({"echo": {"image": "e:1", "port": 80, "enviroment": {"A": "1"}}}, "/t")
    problems = catalog.validate(cat, ["echo"], {"aiplatform": ["h"]})
    assert problems == ["echo.aiplatform_custom_services.echo.enviroment: unknown field; did you mean environment?"]
