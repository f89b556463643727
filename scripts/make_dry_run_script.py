"""Write curation/dry_run/scripts/math-demo.json: the scripted server's answers for the embedded math
demo set, so that a dry run (README, "Live teachers") keeps rows and exercises rejection rounds.

Per problem, in the demo set's order: always right, right for some seeds, right for few seeds, never
right. Each answer holds ``{seed}``, which the server replaces by the request's seed, so samples
under different seeds differ as a sampling teacher's do (no duplicate-response warning).
Run: python scripts/make_dry_run_script.py
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "curation" / "demo" / "math_demo.jsonl"
OUT = ROOT / "curation" / "dry_run" / "scripts" / "math-demo.json"


def answer(value: str) -> str:
    return (f"<think>\nOkay, let me work through this (sample {{seed}}).\n\nComputing step by step gives {value}.\n"
            f"</think>\n\nThe answer is $\\boxed{{{value}}}$.")


def main() -> None:
    rules = []
    rows = [json.loads(line) for line in DEMO.read_text().splitlines() if line.strip()]
    for i, row in enumerate(r for r in rows if isinstance(r.get("problem"), str) and r.get("answer")):
        right, wrong = answer(str(row["answer"])), answer(f"{row['answer']} + 1")
        answers = [[right], [wrong, right], [wrong, wrong, right], [wrong]][i % 4]
        rules.append({"match": row["problem"], "answers": answers})
    rules.sort(key=lambda r: -len(r["match"]))  # the first rule whose text is in the prompt answers it
    OUT.parent.mkdir(parents=True, exist_ok=True)
    about = ("Scripted answers for the embedded math demo set (written by scripts/make_dry_run_script.py): per "
             "problem always right, right for some seeds, right for few seeds, or never right")
    OUT.write_text(json.dumps({"about": about, "rules": rules}, indent=1) + "\n")
    print(f"{len(rules)} rules -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
