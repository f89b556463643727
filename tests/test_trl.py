"""The curated set under TRL's SFTTrainer with the paper's student's chat template (DeepSeek-R1-Distill,
which cuts everything up to ``</think>`` from assistant turns): the recipe in the dataset card and
README (``assistant_only_loss=True``) trains on the ``<think>`` trace; TRL's default path does not."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the train extra (torch) is not installed")
trl = pytest.importorskip("trl", reason="trl (dev extra) is not installed")

from helpers.tiny_models import build_qwen2, build_tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEEPSEEK = {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
            "additional_special_tokens": ["<｜User｜>", "<｜Assistant｜>"]}


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """A tiny Qwen2 whose tokenizer has DeepSeek-R1-Distill's special tokens and its exact chat template
    (the copy TRL ships, which TRL recognises)."""
    root = tmp_path_factory.mktemp("r1")
    tok = build_tokenizer(root / "tok")
    tok.add_special_tokens(DEEPSEEK)
    tok.chat_template = (Path(trl.__file__).parent / "chat_templates" / "deepseek_r1_distill.jinja").read_text()
    return build_qwen2(root / "student", tokenizer=tok, vocab_size=len(tok))


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("curated") / "science"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "curation.cli", "science", "--quiet", "--out", str(out)], check=True,
                   cwd=tmp_path_factory.mktemp("cwd"), env=env, capture_output=True)
    return out


def _trained_text(trainer, tokenizer) -> list[str]:
    """The decoded tokens that carry loss (labels != -100) in the first batch the trainer would use."""
    batch = next(iter(trainer.get_train_dataloader()))
    return [tokenizer.decode(ids[labels != -100]) for ids, labels in zip(batch["input_ids"], batch["labels"],
                                                                          strict=True)]


@pytest.mark.integration
def test_the_documented_trl_recipe_trains_on_the_think_trace(student, curated, tmp_path):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    # the recipe of the dataset card and README, as written there
    train = load_dataset(str(curated), split="train").select_columns(["messages"])
    args = SFTConfig(output_dir=str(tmp_path / "trl"), assistant_only_loss=True, max_length=16384,
                     per_device_train_batch_size=2, max_steps=3, learning_rate=1e-3, report_to="none",
                     use_cpu=True, save_strategy="no", logging_steps=1, seed=0)
    tokenizer = AutoTokenizer.from_pretrained(student)
    trainer = SFTTrainer(model=str(student), args=args, train_dataset=train, processing_class=tokenizer)
    reasoning = train[0]["messages"][-1]["content"].split("</think>")[0].removeprefix("<think>").strip()
    assert len(reasoning) > 20
    trained = _trained_text(trainer, tokenizer)
    assert all("<think>" in t and "</think>" in t for t in trained)
    assert any(reasoning[:200] in t for t in trained)
    assert not any("<｜User｜>" in t for t in trained)  # the prompt stays out of the loss
    result = trainer.train()
    assert result.global_step == 3 and result.training_loss > 0
    trainer.save_model(str(tmp_path / "trl" / "final"))
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "trl" / "final").config.vocab_size == len(tokenizer)


@pytest.mark.integration
def test_trl_default_path_drops_the_trace_with_this_template(student, curated, tmp_path):
    """Why the recipe sets assistant_only_loss: without it the student's own template renders the rows
    and cuts the reasoning (the failure the card warns about)."""
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    train = load_dataset(str(curated), split="train").select_columns(["messages"])
    args = SFTConfig(output_dir=str(tmp_path / "trl"), max_length=16384, per_device_train_batch_size=2,
                     max_steps=1, report_to="none", use_cpu=True, save_strategy="no")
    tokenizer = AutoTokenizer.from_pretrained(student)
    trainer = SFTTrainer(model=str(student), args=args, train_dataset=train, processing_class=tokenizer)
    assert not any("</think>" in t for t in _trained_text(trainer, tokenizer))


def test_llamafactory_entry_in_the_card_matches_the_published_rows(curated):
    """The card's dataset_info.json entry parses, points at data/ and names the rows' keys and roles."""
    import pyarrow.parquet as pq

    card = (curated / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in card.split("```json\n")[1:]]
    (name, entry), = next(json.loads(b) for b in blocks if '"sharegpt"' in b).items()
    assert name == "branch_merge_science"
    assert entry["file_name"] == "data" and entry["formatting"] == "sharegpt"
    rows = pq.read_table(next((curated / "data").glob("*.parquet"))).slice(0, 3).to_pylist()
    column, tags = entry["columns"]["messages"], entry["tags"]
    for row in rows:
        roles = [m[tags["role_tag"]] for m in row[column]]
        assert roles == [tags["user_tag"], tags["assistant_tag"]]
        assert "</think>" in row[column][-1][tags["content_tag"]]
