"""Training on a mixture of curated sets: ``--data A --data B*2 --data C@N``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training import build_train_config
from training.data import load_mixture, parse_spec

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    """The science and math demo sets, curated offline (a few seconds)."""
    root = tmp_path_factory.mktemp("curated")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    for domain in ("science", "math"):
        subprocess.run([sys.executable, "-m", "curation.cli", domain, "--quiet", "--out", str(root / domain)],
                       check=True, env=env, capture_output=True)
    return root


def _messages(rows):
    return [json.dumps(r["messages"]) for r in rows]


def test_specs_parse_and_bad_factors_are_reported_together():
    assert parse_spec("org/set")[0].factor == 1
    assert parse_spec("a*3")[0].factor == 3 and parse_spec("a@50")[0].rows == 50
    with pytest.raises(Exception) as exc:
        build_train_config("science", overrides={"model": "m", "data": ["a*0", "b@x", "c*"]})
    assert len(exc.value.problems) == 3 and all("data:" in p for p in exc.value.problems)


def test_a_single_string_is_one_set():
    cfg = build_train_config("science", overrides={"model": "m", "data": "out/x"})
    assert cfg.data == ["out/x"] and cfg.data_specs == ["out/x"]
    assert build_train_config("science", overrides={"model": "m"}).data_specs == ["out/science"]


def test_factors_give_the_expected_rows_in_a_deterministic_order(demo_sets):
    sci, math = str(demo_sets / "science"), str(demo_sets / "math")
    single, [one] = load_mixture([sci], seed=1)
    n_sci, n_math = one["rows"], len(load_mixture([math], seed=1)[0])
    rows, sets = load_mixture([sci, f"{math}*2", f"{sci}@{n_sci + 3}"], seed=7)
    assert [s["used"] for s in sets] == [n_sci, 2 * n_math, n_sci + 3]
    assert [(s["factor"], s["sampled_to"]) for s in sets] == [(1, None), (2, None), (None, n_sci + 3)]
    got = _messages(rows)
    assert len(got) == len(rows) == 2 * n_sci + 2 * n_math + 3
    assert got[:n_sci] == _messages(single)  # sets in the order given
    assert got[n_sci:n_sci + n_math] == got[n_sci + n_math:n_sci + 2 * n_math]  # whole copies
    assert got[-(n_sci + 3):-3] == got[:n_sci]  # @N: whole copies, then a sample of 3
    assert len(set(got[-3:])) == 3 and set(got[-3:]) <= set(got[:n_sci])
    assert _messages(load_mixture([sci, f"{math}*2", f"{sci}@{n_sci + 3}"], seed=7)[0]) == got  # same seed
    other = _messages(load_mixture([f"{sci}@5"], seed=8)[0])
    assert other != _messages(load_mixture([f"{sci}@5"], seed=7)[0]) or n_sci <= 5


def test_a_sample_is_the_same_wherever_the_set_lies(demo_sets, tmp_path):
    """@N is seeded by the set's name, not its path: a recipe run in another folder trains on the same rows."""
    import shutil

    sci = demo_sets / "science"
    n = len(load_mixture([str(sci)], seed=1)[0])
    moved = shutil.copytree(sci, tmp_path / "elsewhere" / "science")
    here, there = (_messages(load_mixture([f"{p}@{n // 2}"], seed=3)[0]) for p in (sci, moved))
    assert here == there and len(here) == n // 2


def test_sets_with_other_columns_still_mix(demo_sets, tmp_path):
    import datasets

    rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "extra": 1}]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "data.parquet"))
    mixed, sets = load_mixture([str(demo_sets / "science"), f"{tmp_path}*2"], seed=0)
    assert list(mixed)[-1] == {"messages": rows[0]["messages"]} and sets[1]["used"] == 2
