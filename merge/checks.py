"""Input checks before any merge work: every model folder exists with a config and safetensors
weights, and all share architecture, tensor names and shapes, and tokenizer. Each mismatch is
one line naming the two models and what differs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

_SHAPE_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "vocab_size")


def _weights(folder: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder}: no *.safetensors weights")
    shapes = {}
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            for k in fh.keys():  # noqa: SIM118 (safe_open is not a mapping)
                shapes[k] = tuple(fh.get_slice(k).get_shape())
    return shapes


def _tokenizer_digest(folder: Path) -> str | None:
    for name in ("tokenizer.json", "vocab.json", "tokenizer.model"):
        f = folder / name
        if f.exists():
            if name == "tokenizer.json":
                vocab = json.loads(f.read_text()).get("model", {}).get("vocab")
                return hashlib.sha256(json.dumps(vocab, sort_keys=True).encode()).hexdigest()
            return hashlib.sha256(f.read_bytes()).hexdigest()
    return None


def describe(folder: Path) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    cfg_path = folder / "config.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{folder}: no config.json (not a Hugging Face model folder)")
    cfg = json.loads(cfg_path.read_text())
    return {"architectures": cfg.get("architectures"), "model_type": cfg.get("model_type"),
            "dims": {k: cfg.get(k) for k in _SHAPE_KEYS}, "weights": _weights(folder),
            "tokenizer": _tokenizer_digest(folder)}


def check_inputs(models: dict[str, Path]) -> list[str]:
    """Problems with the named input models (empty when they can be merged)."""
    problems, seen = [], {}
    for name, path in models.items():
        try:
            seen[name] = describe(path)
        except FileNotFoundError as exc:
            problems.append(f"{name}: {exc}")
    if problems or len(seen) < 2:
        return problems
    (ref_name, ref), *others = seen.items()
    for name, d in others:
        pair = f"{ref_name} and {name}"
        if d["architectures"] != ref["architectures"]:
            problems.append(f"{pair} differ in architecture: {ref['architectures']} vs {d['architectures']}")
            continue
        dims = [k for k in _SHAPE_KEYS if d["dims"][k] != ref["dims"][k]]
        if dims:
            k = dims[0]
            problems.append(f"{pair} differ in shape: {k} {ref['dims'][k]} vs {d['dims'][k]}")
            continue
        if set(d["weights"]) != set(ref["weights"]):
            diff = sorted(set(d["weights"]) ^ set(ref["weights"]))
            problems.append(f"{pair} hold different tensors ({len(diff)}, e.g. {diff[0]})")
            continue
        bad = [k for k in ref["weights"] if ref["weights"][k] != d["weights"][k]]
        if bad:
            problems.append(f"{pair} differ in shape of {bad[0]}: {ref['weights'][bad[0]]} vs {d['weights'][bad[0]]}")
        if d["tokenizer"] != ref["tokenizer"]:
            problems.append(f"{pair} have different tokenizers")
    return problems
