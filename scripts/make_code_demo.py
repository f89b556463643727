"""Write curation/demo/code_demo.jsonl: the embedded code demo set (written by us).

22 problems (12 stdin/stdout, 10 function-call), each with a correct R1-style response and a
second response from a rotating set of failure modes: wrong answer, too slow, crashing,
cheating (an always-equal object, a forged "AC" on stdout, snooping for the tests), no code
block, and a truncated trace. A few stdin problems also get a correct C++ response.
Run: python scripts/make_code_demo.py
"""

import json
from pathlib import Path

# (statement, tests, correct python, wrong python)
STDIN = [
    ("Read two integers a and b on one line and print a + b.", ["1 2", "-5 7", "100 200"], ["3", "2", "300"],
     "a, b = map(int, input().split())\nprint(a + b)", "a, b = map(int, input().split())\nprint(a - b)"),
    ("Read a string and print it reversed.", ["hello", "abc", "x"], ["olleh", "cba", "x"],
     "print(input()[::-1])", "print(input())"),
    ("Read a line and print how many vowels (a, e, i, o, u) it contains.", ["hello world", "sky", "aeiou"],
     ["3", "0", "5"], "s = input().lower()\nprint(sum(c in 'aeiou' for c in s))", "print(len(input()))"),
    ("The first line holds N, the second N integers. Print the largest.", ["3\n1 9 4", "1\n-2", "4\n5 5 5 1"],
     ["9", "-2", "5"], "input()\nprint(max(map(int, input().split())))",
     "input()\nprint(min(map(int, input().split())))"),
    ("Read n (0 <= n <= 50) and print the n-th Fibonacci number (F0 = 0, F1 = 1).", ["0", "10", "50"],
     ["0", "55", "12586269025"], "n = int(input())\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nprint(a)",
     "n = int(input())\nprint(n * (n - 1))"),
    ("Read an integer n >= 2 and print YES if it is prime, else NO.", ["2", "15", "97"], ["YES", "NO", "YES"],
     "n = int(input())\nprint('YES' if all(n % d for d in range(2, int(n ** 0.5) + 1)) else 'NO')",
     "n = int(input())\nprint('YES' if n % 2 else 'NO')"),
    ("Read n (0 <= n <= 20) and print n!.", ["0", "5", "20"], ["1", "120", "2432902008176640000"],
     "import math\nprint(math.factorial(int(input())))", "n = int(input())\nprint(n * n)"),
    ("Read two positive integers and print their greatest common divisor.", ["12 18", "7 13", "100 75"],
     ["6", "1", "25"], "import math\na, b = map(int, input().split())\nprint(math.gcd(a, b))",
     "a, b = map(int, input().split())\nprint(min(a, b))"),
    ("Read integers on one line and print them sorted ascending, space separated.", ["3 1 2", "5", "2 2 1"],
     ["1 2 3", "5", "1 2 2"], "print(*sorted(map(int, input().split())))",
     "print(*sorted(input().split(), reverse=True))"),
    ("Read a word and print YES if it is a palindrome, else NO.", ["level", "abca", "a"], ["YES", "NO", "YES"],
     "s = input().strip()\nprint('YES' if s == s[::-1] else 'NO')", "print('YES')"),
    ("Read a non-negative integer and print the sum of its digits.", ["0", "12345", "999"], ["0", "15", "27"],
     "print(sum(map(int, input().strip())))", "print(len(input().strip()))"),
    ("Read a line and print how many words it has.", ["a b c", "hello", "  x   y  "], ["3", "1", "2"],
     "print(len(input().split()))", "print(input().count(' ') + 1)"),
]

CPP = {
    0: "#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}\n",
    7: "#include <iostream>\n#include <numeric>\nint main(){long long a,b;std::cin>>a>>b;"
       "std::cout<<std::gcd(a,b)<<std::endl;}\n",
}

# (statement, fn_name, inputs, outputs, correct, wrong)
CALLS = [
    ("Write add(a, b) returning the sum of two integers.", "add", [[1, 2], [-3, 3], [10, 5]], [3, 0, 15],
     "def add(a, b):\n    return a + b", "def add(a, b):\n    return a * b"),
    ("Write is_even(n) returning True when n is even.", "is_even", [[2], [7], [0]], [True, False, True],
     "def is_even(n):\n    return n % 2 == 0", "def is_even(n):\n    return n % 2 == 1"),
    ("Write reverse_list(xs) returning the list reversed.", "reverse_list", [[[1, 2, 3]], [[]], [[5]]],
     [[3, 2, 1], [], [5]], "def reverse_list(xs):\n    return xs[::-1]", "def reverse_list(xs):\n    return xs"),
    ("Write count_char(s, c) returning how often c occurs in s.", "count_char", [["banana", "a"], ["", "x"],
                                                                                   ["aaa", "a"]],
     [3, 0, 3], "def count_char(s, c):\n    return s.count(c)", "def count_char(s, c):\n    return len(s)"),
    ("Write square_all(xs) returning the squares of the numbers in xs.", "square_all", [[[1, 2, 3]], [[-2]], [[]]],
     [[1, 4, 9], [4], []], "def square_all(xs):\n    return [x * x for x in xs]",
     "def square_all(xs):\n    return [2 * x for x in xs]"),
    ("Write min_max(xs) returning the smallest and the largest element as a pair.", "min_max",
     [[[3, 1, 2]], [[5]], [[-1, -7, 4]]], [[1, 3], [5, 5], [-7, 4]],
     "def min_max(xs):\n    return (min(xs), max(xs))", "def min_max(xs):\n    return (max(xs), min(xs))"),
    ("Write word_lengths(s) returning the length of each word of s.", "word_lengths", [["a bb ccc"], ["hi"]],
     [[1, 2, 3], [2]], "def word_lengths(s):\n    return [len(w) for w in s.split()]",
     "def word_lengths(s):\n    return [len(s)]"),
    ("Write letter_counts(s) returning a dict from each letter of s to its count.", "letter_counts", [["aab"], ["z"]],
     [{"a": 2, "b": 1}, {"z": 1}], "def letter_counts(s):\n    out = {}\n    for ch in s:\n"
                                   "        out[ch] = out.get(ch, 0) + 1\n    return out",
     "def letter_counts(s):\n    return {ch: 1 for ch in s}"),
    ("Write fizzbuzz(n) returning 'Fizz', 'Buzz', 'FizzBuzz' or str(n).", "fizzbuzz", [[3], [5], [15], [7]],
     ["Fizz", "Buzz", "FizzBuzz", "7"], "def fizzbuzz(n):\n    if n % 15 == 0:\n        return 'FizzBuzz'\n"
                                        "    if n % 3 == 0:\n        return 'Fizz'\n    if n % 5 == 0:\n"
                                        "        return 'Buzz'\n    return str(n)",
     "def fizzbuzz(n):\n    return str(n)"),
    ("Write second_largest(xs) returning the second largest distinct value.", "second_largest",
     [[[1, 2, 3]], [[5, 5, 4]], [[10, -1]]], [2, 4, -1],
     "def second_largest(xs):\n    return sorted(set(xs))[-2]", "def second_largest(xs):\n    return sorted(xs)[-2]"),
]

SLOW = {"stdin": "import time\ntime.sleep(60)\n", "call": "def {fn}(*args):\n    while True:\n        pass\n"}
CRASH = {"stdin": "raise RuntimeError('boom')\n", "call": "def {fn}(*args):\n    return 1 // 0\n"}
CHEAT = {
    "stdin": "import os\nprint('AC')\nprint(open('/tmp/expected_output.txt').read() if os.path.exists("
             "'/tmp/expected_output.txt') else 'passed')\n",
    "call": "class Always:\n    def __eq__(self, other):\n        return True\n\n\n"
            "def {fn}(*args):\n    return Always()\n",
}


def respond(code: str, lang: str = "python", *, think: str = "Let me reason about the input format and edge cases.",
            open_tag: bool = True) -> str:
    head = "<think>\n" if open_tag else ""
    return (f"{head}{think}\nI will test it on the samples mentally.\n</think>\n\nHere is my solution:\n\n"
            f"```{lang}\n{code}\n```\n")


def rows():
    out = []
    kinds = ["wrong", "slow", "crash", "cheat", "no_code", "truncated"]
    for i, (statement, inputs, outputs, good, wrong) in enumerate(STDIN):
        responses = [respond(good), respond(good, open_tag=False)]
        finish = ["stop", "stop"]
        kind = kinds[i % len(kinds)]
        bad = {"wrong": respond(wrong), "slow": respond(SLOW["stdin"]), "crash": respond(CRASH["stdin"]),
               "cheat": respond(CHEAT["stdin"]), "no_code": "<think>\nhmm\n</think>\n\nJust read and print the answer.",
               "truncated": "<think>\nLet me think about this problem for a long"}[kind]
        responses.append(bad)
        finish.append("length" if kind == "truncated" else "stop")
        if i in CPP:
            responses.append(respond(CPP[i], "cpp"))
            finish.append("stop")
        out.append({"id": f"code-stdin-{i:02d}", "problem": statement, "tests": {"inputs": inputs, "outputs": outputs},
                    "responses": responses, "finish_reasons": finish})
    for i, (statement, fn, inputs, outputs, good, wrong) in enumerate(CALLS):
        kind = kinds[i % 4]
        bad = {"wrong": wrong, "slow": SLOW["call"].format(fn=fn), "crash": CRASH["call"].format(fn=fn),
               "cheat": CHEAT["call"].format(fn=fn)}[kind]
        out.append({"id": f"code-call-{i:02d}", "problem": statement,
                    "tests": {"fn_name": fn, "inputs": inputs, "outputs": outputs},
                    "responses": [respond(good), respond(bad)], "finish_reasons": ["stop", "stop"]})
    out.append({"id": "code-bad-tests", "problem": "Print the answer.", "tests": {"inputs": ["1"]},
                "responses": [respond("print(1)")]})
    return out


def main() -> None:
    path = Path(__file__).resolve().parents[1] / "curation" / "demo" / "code_demo.jsonl"
    data = rows()
    path.write_text("".join(json.dumps(r) + "\n" for r in data))
    bench = Path(__file__).resolve().parents[1] / "curation" / "demo" / "code_demo_benchmark.jsonl"
    bench.write_text(json.dumps({"question_content": STDIN[4][0]}) + "\n"
                     + json.dumps({"question_content": "Given an array of integers, return indices of the two numbers "
                                                       "such that they add up to a specific target."}) + "\n")
    print(f"wrote {len(data)} rows to {path} and 2 benchmark items to {bench}")


if __name__ == "__main__":
    main()
