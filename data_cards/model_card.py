"""Model cards for ``train`` and ``merge`` outputs: a YAML header the Hub reads (base model,
datasets, tags), the inputs' provenance, the exact settings and the run's metrics."""

from __future__ import annotations

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


def _table(d: dict) -> str:
    rows = [f"| {k} | {v} |" for k, v in d.items() if not isinstance(v, (dict, list))]
    return "| | |\n|---|---|\n" + "\n".join(rows) if rows else "(none)"


def render_model_card(out_dir: Path, *, kind: str, title: str, base_model: str | list[str] | None,
                      datasets: list[str] | None = None, settings: dict | None = None, metrics: dict | None = None,
                      inputs: dict[str, dict] | None = None, repo_id: str | None = None) -> Path:
    """Write ``README.md`` into ``out_dir``; ``inputs`` maps an input name to its provenance."""
    header: dict = {"library_name": "transformers", "license": "apache-2.0",
                    "tags": ["branch-merge", "reasoning", "distillation", kind]}
    if base_model:
        header["base_model"] = base_model
    hub_datasets = [d for d in datasets or [] if "/" in d and not Path(d).exists()]  # local folders are not Hub ids
    if hub_datasets:
        header["datasets"] = hub_datasets
    lines = []
    for name, prov in (inputs or {}).items():
        lines.append(f"- **{name}**: " + ", ".join(f"{k} `{v}`" for k, v in prov.items() if v is not None))
    if datasets:
        lines += [f"- **data**: `{d}`" for d in datasets]
    values = {
        "yaml_header": yaml.safe_dump(header, sort_keys=False).strip(),
        "title": title,
        "summary": SUMMARIES[kind],
        "load_path": repo_id or str(out_dir),
        "inputs": "\n".join(lines) or "(none recorded)",
        "settings": yaml.safe_dump(settings or {}, sort_keys=False).strip(),
        "metrics": _table(metrics or {}),
        "citation": CITATION,
    }
    path = Path(out_dir) / "README.md"
    path.write_text(Template(TEMPLATE.read_text()).safe_substitute(values))
    return path
