"""Write curation/demo/science_demo.jsonl: the embedded science demo set (written by us).

20 questions: 16 multiple choice (choices + answer letter or index) and 4 with numeric answers.
Responses: correct in the forms models use (boxed letter, "Answer: C", "(C)", the option text),
plus a wrong letter, two letters at once, no answer; numeric questions with a wrong value and a
hedge with no value; and one question whose gold is prose, which no verifier can decide (kept,
as the recipe keeps unverifiable samples).
Run: python scripts/make_science_demo.py
"""

import json
from pathlib import Path

MCQ = [
    ("Which organelle is the main site of ATP synthesis in eukaryotic cells?",
     ["Ribosome", "Mitochondrion", "Golgi apparatus", "Lysosome"], 1),
    ("What is the chemical formula of table salt?", ["KCl", "NaCl", "CaCO3", "NaHCO3"], 1),
    ("Which particle carries a negative electric charge?", ["Proton", "Neutron", "Electron", "Photon"], 2),
    ("What is the SI unit of force?", ["Joule", "Watt", "Pascal", "Newton"], 3),
    ("Which gas makes up most of Earth's atmosphere?", ["Oxygen", "Nitrogen", "Argon", "Carbon dioxide"], 1),
    ("DNA is built from which kind of monomer?", ["Amino acids", "Monosaccharides", "Nucleotides", "Fatty acids"], 2),
    ("What is the pH of pure water at 25 degrees Celsius?", ["1", "7", "10", "14"], 1),
    ("Which planet has the shortest orbital period around the Sun?", ["Mercury", "Venus", "Earth", "Mars"], 0),
    ("Which blood cells carry oxygen?", ["Platelets", "White blood cells", "Red blood cells", "Plasma cells"], 2),
    ("What type of bond holds the two strands of DNA together?", ["Ionic bonds", "Hydrogen bonds",
                                                                  "Peptide bonds", "Metallic bonds"], 1),
    ("Which law states that pressure times volume is constant at fixed temperature for an ideal gas?",
     ["Charles's law", "Boyle's law", "Avogadro's law", "Hooke's law"], 1),
    ("Which hormone lowers blood glucose?", ["Glucagon", "Adrenaline", "Insulin", "Cortisol"], 2),
    ("What is the most electronegative element?", ["Oxygen", "Chlorine", "Fluorine", "Nitrogen"], 2),
    ("Which process do plants use to make glucose from carbon dioxide and water?",
     ["Respiration", "Photosynthesis", "Fermentation", "Transpiration"], 1),
    ("What is the speed of light in vacuum, approximately?", ["3 x 10^5 m/s", "3 x 10^8 m/s", "3 x 10^10 m/s",
                                                              "3 x 10^6 m/s"], 1),
    ("Which vitamin is produced in human skin exposed to sunlight?", ["Vitamin A", "Vitamin C", "Vitamin D",
                                                                      "Vitamin K"], 2),
]
NUMERIC = [
    ("A car accelerates uniformly from rest at 2 m/s^2. How far, in meters, does it travel in 5 seconds?", "25",
     "d = a t^2 / 2 = 2 * 25 / 2 = 25."),
    ("How many moles are in 36 grams of water (molar mass 18 g/mol)?", "2", "36 / 18 = 2."),
    ("A 10 ohm resistor carries 2 A. What power, in watts, does it dissipate?", "40", "P = I^2 R = 4 * 10 = 40."),
    ("What is the frequency in hertz of a wave with period 0.25 s?", "4", "f = 1 / T = 4."),
]
LETTERS = "ABCD"


def think(text: str) -> str:
    return f"<think>\nLet me recall the relevant facts. {text}\n</think>\n\n"


def main() -> None:
    rows = []
    forms = [lambda L, t: f"The answer is $\\boxed{{{L}}}$.", lambda L, t: f"**Answer:** {L}",
             lambda L, t: f"Eliminating the others leaves ({L}).",
             lambda L, t: f"It is {t}, so that option." if len(t) >= 6 else f"So the answer is {L}."]
    for i, (question, choices, answer) in enumerate(MCQ):
        letter = LETTERS[answer]
        good = think(f"The right option is {choices[answer]}.") + forms[i % 4](letter, choices[answer])
        second = think("Quick check.") + forms[(i + 1) % 4](letter, choices[answer])
        wrong_letter = LETTERS[(answer + 1) % 4]
        bad = {0: think("Hmm.") + f"Answer: {wrong_letter}",
               1: think("Not sure.") + f"The answer is {letter} or {wrong_letter}.",
               2: think("I cannot decide.") + "Both could be argued; more context is needed.",
               3: think("Hmm.") + f"$\\boxed{{{wrong_letter}}}$"}[i % 4]
        gold = answer if i % 2 else letter  # both the index and the letter forms of a gold
        rows.append({"id": f"sci-mcq-{i:02d}", "problem": question, "choices": choices, "answer": gold,
                     "responses": [good, second, bad], "finish_reasons": ["stop", "stop", "stop"]})
    for i, (question, answer, work) in enumerate(NUMERIC):
        good = think(work) + f"The result is $\\boxed{{{answer}}}$."
        wrong = think("Rough estimate.") + f"The result is $\\boxed{{{int(answer) + 1}}}$."
        freeform = think(work) + "It depends on the assumptions; roughly a few units."
        rows.append({"id": f"sci-num-{i:02d}", "problem": question, "answer": answer,
                     "responses": [good, wrong, freeform], "finish_reasons": ["stop", "stop", "stop"]})
    rows.append({"id": "sci-essay", "problem": "Explain why the sky appears blue.",
                 "answer": "Rayleigh scattering makes shorter wavelengths scatter more strongly.",
                 "responses": [think("Scattering.") + "Because of Rayleigh scattering of sunlight by air molecules."]})
    path = Path(__file__).resolve().parents[1] / "curation" / "demo" / "science_demo.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = path.with_name("science_demo_benchmark.jsonl")
    bench.write_text(json.dumps({"Question": MCQ[4][0]}) + "\n")
    print(f"wrote {len(rows)} rows to {path}")


if __name__ == "__main__":
    main()
