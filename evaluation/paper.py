"""The paper's Table 1 beside the evaluated model, and how our protocol differs from the paper's.

The numbers below are copied from "TinyR1-32B-Preview: Boosting Accuracy with Branch-Merge
Distillation" (arXiv 2503.04872), Table 1 (pass@1, %). A value we could not confirm from the
paper is None and printed as '-', never guessed. The abstract's gains (+5.5 math, +4.4 coding,
+2.9 science over DeepSeek-R1-Distill-Qwen-32B) agree with the rows given here.
"""

from __future__ import annotations

from collections.abc import Callable

# model -> benchmark (our protocol names) -> pass@1 in %, as published; None: not confirmed.
PAPER_TABLE_1: dict[str, dict[str, float | None]] = {
    "DeepSeek-R1-Distill-Qwen-32B": {"aime24": 72.6, "livecodebench": 57.2, "gpqa_diamond": 62.1},
    "TinyR1-32B-Preview math expert": {"aime24": None, "livecodebench": None, "gpqa_diamond": None},
    "TinyR1-32B-Preview code expert": {"aime24": None, "livecodebench": 63.4, "gpqa_diamond": None},
    "TinyR1-32B-Preview science expert": {"aime24": None, "livecodebench": None, "gpqa_diamond": None},
    "TinyR1-32B-Preview": {"aime24": 78.1, "livecodebench": 61.6, "gpqa_diamond": 65.0},
    "DeepSeek-R1": {"aime24": 79.8, "livecodebench": 65.9, "gpqa_diamond": 71.5},
}

# How the paper ran each benchmark, where it is stated, and what a run of ours does differently.
PAPER_PROTOCOL = {
    "aime24": "AIME 2024, pass@1 averaged over 16 samples, temperature 0.6, top_p 0.95, 32768 new tokens.",
    "gpqa_diamond": "GPQA-Diamond, pass@1 averaged over 4 samples.",
    "livecodebench": "LiveCodeBench problems released 2024-08 to 2025-02, pass@1 averaged over 4 samples.",
}


def _paper_rows(benchmarks: list[str]) -> dict[str, dict]:
    rows = {}
    for model, scores in PAPER_TABLE_1.items():
        rows[f"{model} (paper)"] = {n: ({"pass@1": scores[n] / 100, "std": None} if scores.get(n) is not None
                                        else {"pass@1": None}) for n in benchmarks}
    return rows


def differences(results: dict, protocol: dict | None = None) -> list[str]:
    """One line per way this run's protocol differs from the paper's, for the benchmarks in it."""
    lines = []
    for name, res in results.items():
        if name not in PAPER_TABLE_1["TinyR1-32B-Preview"]:
            lines.append(f"{name}: not in the paper's Table 1.")
            continue
        if res.get("samples") is not None and name in ("aime24",) and res["samples"] != 16:
            lines.append(f"{name}: {res['samples']} samples per problem (the paper: 16).")
        if res.get("samples") is not None and name in ("gpqa_diamond", "livecodebench") and res["samples"] != 4:
            lines.append(f"{name}: {res['samples']} samples per problem (the paper: 4).")
        sel = res.get("protocol") or {}
        if name == "livecodebench":
            from evaluation.livecodebench import DIFFERENCES, PAPER_WINDOW

            if sel.get("window") and sel["window"] != PAPER_WINDOW:
                lines.append(f"livecodebench: window {sel['window']} (the paper: {PAPER_WINDOW}).")
            if sel.get("limited_to_first"):
                lines.append(f"livecodebench: only the first {sel['limited_to_first']} problems of the window.")
            lines += [f"livecodebench: {d}" for d in DIFFERENCES]
    if protocol:
        t, p, m = protocol.get("temperature"), protocol.get("top_p"), protocol.get("max_tokens")
        if (t, p, m) != (0.6, 0.95, 32768):
            lines.append(f"sampling: temperature {t}, top_p {p}, {m} new tokens (the paper: 0.6, 0.95, 32768).")
    return lines


def comparison_table(model: str, results: dict, markdown_table: Callable[[dict], str],
                     protocol: dict | None = None) -> str:
    """results.md: the evaluated model and the paper's rows, one column per benchmark in the run;
    then what each LiveCodeBench run covered and the protocol differences."""
    names = list(results)
    if not any(n in PAPER_TABLE_1["TinyR1-32B-Preview"] for n in names):  # sets of one's own only
        return ("## Results\n\n" + markdown_table({model: results})
                + "\n(None of these benchmarks is in the paper's Table 1.)\n")
    text = "## Results beside the paper's Table 1\n\n" + markdown_table({model: results, **_paper_rows(names)})
    text += ("\nPaper rows: arXiv 2503.04872 Table 1 as published ('-': not in the paper or not confirmed).\n")
    for name, res in results.items():
        sel = res.get("protocol")
        if sel:
            text += (f"\n{name}: window {sel['window']}; {sel['problems']} problems "
                     f"({sel['outside_window']} outside the window not counted); "
                     f"platforms {sel['by_platform']}; difficulty {sel['by_difficulty']}; tests {sel['tests']}; "
                     f"time limit {sel['time_limit']}; pass rule: {sel['pass_rule']}; prompt: {sel['prompt']}.\n")
    lines = differences(results, protocol)
    if lines:
        text += "\n### Protocol differences from the paper\n\n" + "".join(f"- {line}\n" for line in lines)
    return text
