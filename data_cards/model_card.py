"""Model cards for ``train`` and ``merge`` outputs: a YAML header the Hub reads (base model,
datasets, tags), the inputs' provenance, the exact settings and the run's metrics."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

import yaml

from data_cards.citation import CITATION

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
SUMMARIES = {
    "train": "A Branch-Merge branch expert: the base model fully fine-tuned (DeepSpeed ZeRO) on one domain's "
             "verified SFT set.",
    "merge": "A Branch-Merge merged model: the branch experts fused with mergekit following the plan below.",
}


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_CACHE_DIR = re.compile(r"^models--([\w.\-]+?)--([\w.\-]+)$")


def hub_model_id(ref: str) -> str | None:
    """The Hub id a model reference stands for: itself when it is one (and no local folder of that
    name exists), the repo of a Hugging Face cache folder (``.../models--org--name/snapshots/REV``),
    else None (a plain local folder has no Hub id, and the Hub rejects a path as ``base_model``)."""
    path = Path(ref).expanduser()
    for part in reversed(path.parts):
        if m := _CACHE_DIR.match(part):
            return f"{m.group(1)}/{m.group(2)}"
    if not path.exists() and _HUB_ID.match(ref) and ".." not in ref and "--" not in ref:
        return ref
    return None


def _curve(out_dir: Path, records: list[dict] | None) -> str:
    if not records:
        return ""
    from data_cards.plots import training_curve

    training_curve(records, Path(out_dir) / "plots" / "training_curve.png")
    return "\n\n![Training loss and learning rate per step](plots/training_curve.png)"


def _figure(v) -> str:
    """A value as a person reads it: floats to 4 significant digits, mappings as ``k: v`` pairs."""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_figure(x)}" for k, x in v.items()) or "none"
    return str(v)


def _table(d: dict) -> str:
    rows = [f"| {k} | {_figure(v)} |" for k, v in d.items() if not isinstance(v, list)]
    return "| | |\n|---|---|\n" + "\n".join(rows) if rows else "(none)"


def render_model_card(out_dir: Path, *, kind: str, title: str, base_model: str | list[str] | None,
                      datasets: list[str] | None = None, settings: dict | None = None, metrics: dict | None = None,
                      inputs: dict[str, dict] | None = None, repo_id: str | None = None,
                      curve: list[dict] | None = None, sections: dict[str, str] | None = None) -> Path:
    """Write ``README.md`` into ``out_dir``; ``inputs`` maps an input name to its provenance, ``curve``
    holds per-step records (``step``, ``loss``, ``lr``) drawn as ``plots/training_curve.png``,
    ``sections`` further sections after the metrics (title -> markdown)."""
    header: dict = {"library_name": "transformers", "license": "apache-2.0",
                    "tags": ["branch-merge", "reasoning", "distillation", kind]}
    refs = [base_model] if isinstance(base_model, str) else list(base_model or [])
    hub_bases = list(dict.fromkeys(h for h in map(hub_model_id, refs) if h))
    if hub_bases:
        header["base_model"] = hub_bases[0] if isinstance(base_model, str) else hub_bases
    hub_datasets = [d for d in datasets or [] if "/" in d and not Path(d).exists()]  # local folders are not Hub ids
    if hub_datasets:
        header["datasets"] = hub_datasets
    lines = []
    for name, prov in (inputs or {}).items():
        lines.append(f"- **{name}**: " + ", ".join(f"{k} `{v}`" for k, v in prov.items() if v is not None))
    lines += [f"- **base model**: `{r}`" + (f" (Hub `{hub_model_id(r)}`)" if hub_model_id(r) not in (None, r) else "")
              for r in refs if not inputs]
    if datasets:
        lines += [f"- **data**: `{d}`" for d in datasets]
    values = {
        "yaml_header": yaml.safe_dump(header, sort_keys=False).strip(),
        "title": title,
        "summary": SUMMARIES[kind],
        "load_path": repo_id or str(out_dir),
        "inputs": "\n".join(lines) or "(none recorded)",
        "settings": yaml.safe_dump(settings or {}, sort_keys=False).strip(),
        "metrics": _table(metrics or {}) + _curve(out_dir, curve)
                   + "".join(f"\n\n## {title}\n\n{body.strip()}" for title, body in (sections or {}).items()),
        "citation": CITATION,
    }
    path = Path(out_dir) / "README.md"
    path.write_text(Template(TEMPLATE.read_text()).safe_substitute(values))
    return path
