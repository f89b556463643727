"""Config values as people write them (issue 27): numbers YAML reads as text, the HF/TRL names of our
settings, and a suggestion for every unknown setting."""

from __future__ import annotations

import dataclasses

import pytest

from curation import ConfigError, build_config, leaf_type, set_fields
from curation.config import CurateConfig, iter_fields, parse_config
from evaluation.cli import EvaluateConfig
from merge.cli import MergeConfig
from training import build_train_config
from training.config import TrainConfig


def _float_settings() -> list[tuple[type, str]]:
    """Every float setting of every command's config (curate's sections, train, evaluate, merge)."""
    out = [(type(getattr(CurateConfig(), section)), f.name) for section, f in iter_fields(CurateConfig)]
    out += [(cls, f.name) for cls in (TrainConfig, EvaluateConfig, MergeConfig) for f in dataclasses.fields(cls)]
    return [(cls, name) for cls, name in dict.fromkeys(out) if leaf_type(cls, name)[0] is float]


def test_every_float_setting_reads_a_number_written_as_yaml_1_1_text():
    settings = _float_settings()
    assert len(settings) >= 15  # curate's thresholds, timeouts and sampling; train's lr, ratios, betas
    for cls, name in settings:
        for text, want in (("2e-5", 2e-5), ("1E-3", 1e-3), ("+5e-1", 0.5), (".25", 0.25), ("3", 3.0)):
            obj, problems = cls(), []
            set_fields(obj, {name: text}, problems, label=str, unknown=str)
            assert problems == [] and getattr(obj, name) == want and type(getattr(obj, name)) is float, (cls, name)
        for bad in ("fast", "nan", "inf", "1e-5x", True):
            problems = []
            set_fields(cls(), {name: bad}, problems, label=str, unknown=str)
            assert problems == [f"{name}: must be a number, got {bad!r}"], (cls, name, bad)


def test_a_train_config_file_as_people_write_it(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("lr: 2e-5\nwarmup_ratio: 5e-2\nweight_decay: 0\nepochs: 3.0\nmax_grad_norm: 1\n")
    cfg = build_train_config("math", str(path), {"model": "org/student"})
    assert (cfg.lr, cfg.warmup_ratio, cfg.weight_decay, cfg.epochs, cfg.max_grad_norm) == (2e-5, 0.05, 0.0, 3, 1.0)
    assert type(cfg.epochs) is int
    path.write_text("epochs: 2.5\n")
    with pytest.raises(ConfigError, match=r"epochs: must be an integer, got 2.5"):
        build_train_config("math", str(path), {"model": "org/student"})


def test_hf_and_trl_names_that_mean_exactly_our_setting_are_accepted(tmp_path):
    path = tmp_path / "trl.yaml"
    path.write_text("learning_rate: 2e-5\nnum_train_epochs: 3\nlr_scheduler_type: cosine\nwarmup_ratio: 0.05\n"
                    "max_grad_norm: 0.5\nweight_decay: 0.1\ngradient_checkpointing: false\nmax_seq_length: 4096\n"
                    "adam_epsilon: 1e-6\nlogging_steps: 5\nsave_total_limit: 3\noutput_dir: runs/x\n"
                    "model_name_or_path: org/student\nuse_liger_kernel: false\n")
    cfg = build_train_config("math", str(path))
    assert (cfg.lr, cfg.epochs, cfg.scheduler, cfg.warmup_ratio, cfg.max_grad_norm, cfg.weight_decay) == (
        2e-5, 3, "cosine", 0.05, 0.5, 0.1)
    assert (cfg.gradient_checkpointing, cfg.cutoff, cfg.adam_eps, cfg.log_steps, cfg.keep_checkpoints) == (
        False, 4096, 1e-6, 5, 3)
    assert (cfg.output, cfg.model, cfg.liger) == ("runs/x", "org/student", False)
    path.write_text("max_length: 2048\n")  # TRL's newer name
    assert build_train_config("math", str(path), {"model": "m"}).cutoff == 2048
    path.write_text("lr: 1e-5\nlearning_rate: 2e-5\n")  # one setting given twice is refused, not guessed
    with pytest.raises(ConfigError) as err:
        build_train_config("math", str(path), {"model": "m"})
    assert err.value.problems == [f"{path}: lr: given twice, as 'lr' and as 'learning_rate'"]


def test_names_that_do_not_map_exactly_are_refused_with_a_suggestion(tmp_path):
    path = tmp_path / "hf.yaml"
    path.write_text("per_device_train_batch_size: 4\ngradient_accumulation_steps: 8\nbf16: true\n"
                    "warmup_steps: 100\nlearnin_rate: 1e-5\nepochz: 2\ncompletely_unrelated: 1\n")
    with pytest.raises(ConfigError) as err:
        build_train_config("math", str(path), {"model": "m"})
    problems = err.value.problems
    assert len(problems) == 7 and all(p.startswith(f"{path}: unknown setting ") for p in problems)
    by_key = {p.split("'")[1]: p for p in problems}
    assert "(did you mean 'micro_batch'?" in by_key["per_device_train_batch_size"]
    assert "global_batch (= micro_batch x accumulation x world)" in by_key["per_device_train_batch_size"]
    assert "(did you mean 'global_batch'?" in by_key["gradient_accumulation_steps"]
    assert "(did you mean 'precision'? precision takes auto, bf16 or fp32)" in by_key["bf16"]
    assert "(did you mean 'warmup_ratio'?" in by_key["warmup_steps"]
    assert by_key["learnin_rate"].endswith("(did you mean 'lr'?)")  # the closest spelling of a name or alias
    assert by_key["epochz"].endswith("(did you mean 'epochs'?)")
    assert by_key["completely_unrelated"].endswith("'completely_unrelated'")  # nothing close: no guess


def test_curate_recipes_read_numbers_as_text_and_suggest_names():
    recipe = {"domain": "math", "source": {"path": "demo"}, "dedup": {"threshold": "8.5e-1"},
              "verify": {"timeout_s": "1e1"}, "teacher": {"temperature": "6e-1", "max_new_tokens": 1024}}
    cfg = build_config(recipe)
    assert (cfg.dedup.threshold, cfg.verify.timeout_s, cfg.teacher.temperature) == (0.85, 10.0, 0.6)
    assert cfg.teacher.max_tokens == 1024
    _, problems = parse_config({"domain": "math", "source": {"path": "demo"}, "select": {"kep": "first"},
                                "dedupe": {}}, origin="recipe r.yaml")
    assert problems == ["recipe r.yaml: unknown key 'select.kep' (did you mean 'keep'?)",
                        "recipe r.yaml: unknown section 'dedupe' (did you mean 'dedup'?)"]


def test_text_settings_keep_text_that_looks_like_a_number():
    cfg = build_config({"domain": "math", "source": {"path": "demo"}, "select": {"keep": "2"}})
    assert cfg.select.keep == "2"
