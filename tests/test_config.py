from pathlib import Path

import pytest
import yaml

from curation import RECIPES_DIR, ConfigError, build_config, read_recipe_yaml, with_demo


@pytest.mark.parametrize("path", sorted(RECIPES_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_loads_and_validates(path):
    cfg = build_config(read_recipe_yaml(path), check_source=False)
    assert cfg.domain == path.stem
    demo = build_config(with_demo(read_recipe_yaml(path)))  # the demo it declares exists and validates
    assert demo.source.path == "demo"


def test_math_recipe_is_the_reference():
    cfg = build_config(read_recipe_yaml(RECIPES_DIR / "math.yaml"), check_source=False)
    assert cfg.source.preset == "openr1-math"
    assert (cfg.teacher.temperature, cfg.teacher.top_p, cfg.teacher.max_tokens) == (0.6, 0.95, 32768)


def test_all_problems_are_reported_together():
    recipe = {"domain": "math", "source": {"path": "demo", "bogus": 1}, "select": {"keep": "most"},
              "output": {"shard_rows": 0, "part_size": "many"}, "extra": {}}
    with pytest.raises(ConfigError) as err:
        build_config(recipe)
    text = str(err.value)
    for needle in ("unknown key 'source.bogus'", "select.keep", "output.shard_rows", "output.part_size",
                   "unknown section 'extra'"):
        assert needle in text
    assert len(err.value.problems) == 5


def test_missing_source_file_is_a_config_problem(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        build_config({"domain": "math", "source": {"path": str(tmp_path / "nope.jsonl")}})


def test_broken_yaml_is_one_line(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("source: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        read_recipe_yaml(bad)
    assert len(err.value.problems) == 1 and "not valid YAML" in err.value.problems[0]


def test_overrides_win_over_the_recipe():
    cfg = build_config({"domain": "math", "source": {"path": "demo"}, "select": {"keep": "all"}},
                       {"select.keep": "2", "filters.allow_no_think": True})
    assert cfg.select.keep == "2" and cfg.filters.allow_no_think


def test_cli_choices_equal_registries():
    import click

    from curation.cli import main
    from curation.sources.rows import PRESETS
    from curation.teachers import TEACHERS

    command = main.get_command(click.Context(main), "math")
    by_dest = {p.name: p for p in command.params}
    assert set(by_dest["source__preset"].type.choices) == set(PRESETS)
    assert set(by_dest["teacher__backend"].type.choices) == set(TEACHERS)
    live = {name for name, cls in TEACHERS.items() if getattr(cls, "live", False)}
    assert set(by_dest["judge__backend"].type.choices) == live | {"none"}
    from curation.stages.decontam_judge import RETRIEVERS

    assert set(by_dest["decontaminate__retrieval"].type.choices) == set(RETRIEVERS)
    assert {p.name for p in command.params if isinstance(p.type, click.Choice)} == {
        "source__preset", "teacher__backend", "judge__backend", "decontaminate__retrieval"}


def test_recipe_yaml_is_plain_yaml():
    for path in Path(RECIPES_DIR).glob("*.yaml"):
        assert isinstance(yaml.safe_load(path.read_text()), dict)
