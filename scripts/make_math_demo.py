"""Write curation/demo/math_demo.jsonl: the embedded math demo set (written by us).

Each problem carries R1-style responses: correct ones (with and without the opening <think>,
which R1 often drops), wrong answers, and the failure modes the curation funnel must catch:
no final answer, empty final part, truncation, a repetition loop, no reasoning block, exact
duplicate problems, an unparseable gold, a problem without responses and malformed rows.
Run: python scripts/make_math_demo.py
"""

import json
from pathlib import Path

# (problem, gold answer, reasoning, answer as the model writes it, a plausible wrong answer)
PROBLEMS = [
    ("What is the sum of the first 10 positive odd integers?", "100",
     "The first n odd integers sum to n^2, so with n = 10 the sum is 100. Check: 1+3+5+7+9 = 25 = 5^2.",
     "100", "110"),
    ("Compute $\\frac{3}{4} + \\frac{5}{6}$.", "\\frac{19}{12}",
     "Common denominator 12: 3/4 = 9/12 and 5/6 = 10/12, so the sum is 19/12.", "\\dfrac{19}{12}", "\\frac{8}{10}"),
    ("Find the positive solution of $x^2 - 5x - 14 = 0$.", "7",
     "Factor: (x - 7)(x + 2) = 0, so x = 7 or x = -2. The positive one is 7.", "7", "2"),
    ("How many positive divisors does $360$ have?", "24",
     "360 = 2^3 * 3^2 * 5, so the count is (3+1)(2+1)(1+1) = 24.", "24", "20"),
    ("What is the remainder when $2^{10}$ is divided by $7$?", "2",
     "2^3 = 8 is 1 mod 7, so 2^9 is 1 and 2^10 is 2 mod 7. Indeed 1024 = 7*146 + 2.", "2", "4"),
    ("Simplify $\\sqrt{50} + \\sqrt{18}$.", "8\\sqrt{2}",
     "sqrt(50) = 5 sqrt(2) and sqrt(18) = 3 sqrt(2), together 8 sqrt(2).", "8\\sqrt{2}", "\\sqrt{68}"),
    ("A rectangle has perimeter $30$ and length $9$. What is its area?", "54",
     "2(9 + w) = 30 gives w = 6, so the area is 9 * 6 = 54.", "54", "63"),
    ("What is $\\binom{8}{3}$?", "56", "8*7*6 / (3*2*1) = 336 / 6 = 56.", "56", "336"),
    ("Find the greatest common divisor of $84$ and $126$.", "42",
     "126 = 84 + 42 and 84 = 2 * 42, so by Euclid the gcd is 42.", "42", "21"),
    ("Evaluate $\\log_2 64$.", "6", "64 = 2^6, so log base 2 of 64 is 6.", "6", "8"),
    ("The arithmetic sequence $3, 7, 11, \\ldots$ continues. What is its 20th term?", "79",
     "The common difference is 4, so the 20th term is 3 + 19*4 = 79.", "79", "83"),
    ("What is the least common multiple of $12$, $18$ and $30$?", "180",
     "12 = 2^2*3, 18 = 2*3^2, 30 = 2*3*5; the lcm is 2^2 * 3^2 * 5 = 180.", "180", "360"),
    ("Solve for $x$: $3x + 7 = 25$.", "6", "3x = 18, so x = 6.", "x = 6", "18"),
    ("What is the sum of the interior angles of a hexagon, in degrees?", "720",
     "The sum is (n - 2) * 180 = 4 * 180 = 720 degrees.", "720^\\circ", "1080"),
    ("Express $0.\\overline{36}$ as a common fraction in lowest terms.", "\\frac{4}{11}",
     "Let x = 0.3636...; then 100x - x = 36, so x = 36/99 = 4/11.", "\\frac{4}{11}", "\\frac{9}{25}"),
    ("In how many ways can 5 distinct books be arranged on a shelf?", "120", "5! = 120.", "120", "25"),
    ("If $f(x) = 2x^2 - 3x + 1$, what is $f(3)$?", "10", "f(3) = 2*9 - 9 + 1 = 10.", "10", "28"),
    ("What is the distance between the points $(1, 2)$ and $(7, 10)$?", "10",
     "The differences are 6 and 8, and sqrt(36 + 64) = sqrt(100) = 10.", "10", "14"),
    ("Find the sum of all integers from 1 to 100 that are divisible by 3.", "1683",
     "They are 3, 6, ..., 99: 33 terms with sum 3 * (33*34/2) = 3 * 561 = 1683.", "1683", "1650"),
    ("What is the units digit of $7^{2024}$?", "1",
     "Units digits of powers of 7 cycle 7, 9, 3, 1 with period 4, and 2024 is divisible by 4.", "1", "7"),
    ("A fair die is rolled twice. What is the probability that the sum is 7?", "\\frac{1}{6}",
     "Six of the 36 equally likely outcomes sum to 7, so the probability is 6/36 = 1/6.", "\\frac{1}{6}",
     "\\frac{7}{36}"),
    ("Find $x$ if $2^{x+1} = 32$.", "4", "32 = 2^5, so x + 1 = 5 and x = 4.", "4", "5"),
    ("What is the area of a circle with circumference $10\\pi$?", "25\\pi",
     "2 pi r = 10 pi gives r = 5, so the area is 25 pi.", "25\\pi", "100\\pi"),
    ("Compute $1 + 2 + 4 + \\dots + 512$.", "1023",
     "This is a geometric series with 10 terms: 2^10 - 1 = 1023.", "1023", "1024"),
    ("What is the smallest prime number greater than 100?", "101",
     "101 is not divisible by 2, 3, 5 or 7, and 7^2 < 101 < 11^2, so 101 is prime.", "101", "103"),
    ("Let $i^2 = -1$. Compute $(1+i)^4$.", "-4", "(1+i)^2 = 2i, and (2i)^2 = -4.", "-4", "4"),
    ("The roots of $x^2 + bx + 12 = 0$ are $3$ and $4$. What is $b$?", "-7",
     "By Vieta the sum of the roots is -b = 7, so b = -7.", "-7", "7"),
    ("What is the median of $3, 9, 4, 7, 12$?", "7", "Sorted: 3, 4, 7, 9, 12. The middle value is 7.", "7", "4"),
    ("Find the value of $\\sin^2 30^\\circ + \\cos^2 60^\\circ$.", "\\frac{1}{2}",
     "sin 30 = 1/2 and cos 60 = 1/2, so the sum of squares is 1/4 + 1/4 = 1/2.", "\\frac12", "1"),
    ("How many diagonals does a convex octagon have?", "20", "n(n-3)/2 = 8*5/2 = 20.", "20", "28"),
    ("What is $15\\%$ of $80$?", "12", "0.15 * 80 = 12.", "12", "15"),
    ("Find the sum of all solutions of $|2x - 3| = 7$.", "3",
     "2x - 3 = 7 gives x = 5, and 2x - 3 = -7 gives x = -2; the sum is 3.", "3", "5"),
    ("How many trailing zeros does $100!$ have?", "24",
     "Count factors of 5: floor(100/5) + floor(100/25) = 20 + 4 = 24.", "24", "20"),
    ("If $a + b = 10$ and $ab = 21$, what is $a^2 + b^2$?", "58",
     "a^2 + b^2 = (a + b)^2 - 2ab = 100 - 42 = 58.", "58", "79"),
    ("What is the volume of a cube whose surface area is $150$?", "125",
     "6 s^2 = 150 gives s = 5, so the volume is 125.", "125", "25"),
    ("For which real $x$ is $x^2 - 4 < 0$? Give the answer as an interval.", "(-2, 2)",
     "x^2 < 4 exactly when -2 < x < 2.", "(-2,2)", "[-2,2]"),
    ("Compute the determinant of $\\begin{pmatrix} 2 & 3 \\\\ 1 & 4 \\end{pmatrix}$.", "5",
     "2*4 - 3*1 = 8 - 3 = 5.", "5", "11"),
    ("What is the sum of the digits of $2^{15}$?", "26",
     "2^15 = 32768, and 3 + 2 + 7 + 6 + 8 = 26.", "26", "24"),
    ("Simplify $\\frac{x^2 - 1}{x - 1}$ for $x \\neq 1$.", "x+1",
     "x^2 - 1 = (x - 1)(x + 1), and the factor x - 1 cancels.", "x + 1", "x - 1"),
    ("What is $\\frac{1}{2} + \\frac{1}{3}$?", "\\frac{5}{",  # gold truncated upstream: unparseable
     "1/2 + 1/3 = 3/6 + 2/6 = 5/6.", "\\frac{5}{6}", "\\frac{2}{5}"),
    ("What is $12 \\times 12$?", "144", "12 * 12 = 144.", "144", "124"),
    ("How many edges does a cube have?", "12", "A cube has 4 edges on top, 4 on the bottom and 4 vertical.",
     "12", "8"),
    ("A train leaves a station at noon traveling east at a constant speed of 60 miles per hour. A second train "
     "leaves the same station at 1 pm traveling east on a parallel track at a constant speed of 80 miles per "
     "hour. At what time, in hours after noon, does the second train catch up with the first train?", "4",
     "At time t hours after noon the first train has gone 60t miles and the second 80(t - 1). They meet when "
     "60t = 80t - 80, so t = 4.", "4", "3"),
]

# A near duplicate of the train problem (one word changed): dropped by MinHash near-dedup.
NEAR_DUPLICATE = PROBLEMS[-1][0].replace("At what time", "At which time")


def think(reasoning: str) -> str:
    return (f"Okay, let me work through this carefully.\n\n{reasoning}\n\n"
            "Let me double-check that... yes, the computation holds.")


def final(answer: str) -> str:
    return f"**Solution.** Following the reasoning above, the answer is\n\n\\[\n\\boxed{{{answer}}}\n\\]"


def responses_for(i: int, reasoning: str, answer: str, wrong: str) -> tuple[list[str], list[str]]:
    good = f"<think>\n{think(reasoning)}\n</think>\n\n{final(answer)}"
    no_open = f"{think(reasoning)}\n</think>\n\n{final(answer)}"  # R1 drops the opening tag
    bad = f"<think>\n{think('I think I can shortcut this.')}\n</think>\n\n{final(wrong)}"
    out, fin = [good, no_open], ["stop", "stop"]
    kind = i % 7
    if kind == 0:
        out.append(bad)
    elif kind == 1:
        out.append(f"<think>\n{think(reasoning)}\n</think>\n\nI am not certain, so I will not state a final value.")
    elif kind == 2:
        cut = think(reasoning)[: len(think(reasoning)) // 2]
        out.append(f"<think>\n{cut}")
        fin.append("length")
        return out, fin
    elif kind == 3:
        loop = "Wait, I should verify the arithmetic once more before writing the final answer to be completely sure. "
        out.append(f"<think>\n{think(reasoning)} " + loop * 30 + "\n</think>\n\n" + final(answer))
    elif kind == 4:
        out.append(f"The answer is \\boxed{{{answer}}}.")  # no reasoning block at all
    elif kind == 5:
        out.append(f"<think>\n{think(reasoning)}\n</think>\n\n")  # empty final part
    else:
        out.append(bad)
    fin.append("stop")
    return out, fin


def main() -> None:
    rows = []
    for i, (problem, gold, reasoning, answer, wrong) in enumerate(PROBLEMS):
        responses, finish = responses_for(i, reasoning, answer, wrong)
        rows.append({"id": f"demo-{i:03d}", "problem": problem, "answer": gold, "responses": responses,
                     "finish_reasons": finish})
    # Exact duplicates (whitespace and case differ): dropped before any verification.
    for i in (0, 7):
        dup = dict(rows[i], id=f"demo-dup-{i:03d}", problem="  " + PROBLEMS[i][0].upper().replace(" ", "  "))
        rows.append(dup)
    near = responses_for(len(PROBLEMS) + 1, *PROBLEMS[-1][2:])
    rows.append({"id": "demo-near-dup", "problem": NEAR_DUPLICATE, "answer": PROBLEMS[-1][1], "responses": near[0],
                 "finish_reasons": near[1]})
    rows.append({"id": "demo-noresp", "problem": "What is $2^{8}$?", "answer": "256", "responses": []})
    rows.append({"id": "demo-bad-1", "answer": "3"})  # no problem
    rows.append({"id": "demo-bad-2", "problem": "What is $2 + 2$?", "answer": ["4"]})  # answer not text
    path = Path(__file__).resolve().parents[1] / "curation" / "demo" / "math_demo.jsonl"
    with path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {path}")


if __name__ == "__main__":
    main()
