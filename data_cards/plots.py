"""PNG plots for cards (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, ax, title: str, path: Path) -> Path:
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def length_histogram(lengths: list[int], unit: str, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    if lengths:
        ax.hist(lengths, bins=min(50, max(5, len(set(lengths)))), color="#3b6ea8", edgecolor="white")
        med = sorted(lengths)[len(lengths) // 2]
        ax.axvline(med, color="#c0392b", linestyle="--", linewidth=1, label=f"median {med:,}")
        ax.legend(frameon=False)
    else:
        ax.text(0.5, 0.5, "no rows kept", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"response length ({unit})")
    ax.set_ylabel("rows")
    return _save(plt, fig, ax, "Kept responses by length", path)


def count_bars(counts: dict[str, int], title: str, path: Path, top: int = 20) -> Path:
    plt = _plt()
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    fig, ax = plt.subplots(figsize=(7, 0.35 * max(3, len(items)) + 1), dpi=110)
    if items:
        names, values = zip(*items, strict=True)
        ax.barh(range(len(items)), values, color="#3b6ea8")
        ax.set_yticks(range(len(items)), names)
        ax.invert_yaxis()
    ax.set_xlabel("rows")
    return _save(plt, fig, ax, title, path)


def training_curve(records: list[dict], path: Path) -> Path:
    """Loss per optimizer step (left axis) and the learning rate (right axis)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    steps = [r["step"] for r in records]
    ax.plot(steps, [r["loss"] for r in records], color="#3b6ea8", linewidth=1.2, label="loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (per target token)")
    if any(r.get("lr") is not None for r in records):
        lr_ax = ax.twinx()
        lr_ax.plot(steps, [r.get("lr") for r in records], color="#c0392b", linewidth=1, linestyle="--", label="lr")
        lr_ax.set_ylabel("learning rate")
        lr_ax.spines[["top"]].set_visible(False)
        ax.legend(handles=ax.get_lines() + lr_ax.get_lines(), frameon=False, loc="upper right")
    return _save(plt, fig, ax, "Training loss", path)


def score_bars(models: dict[str, dict[str, float | None]], path: Path, title: str = "pass@1 per benchmark") -> Path:
    """Grouped bars: one group per benchmark, one bar per model (pass@1 in %)."""
    plt = _plt()
    names = list(dict.fromkeys(b for scores in models.values() for b in scores))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(names) + 2), 3.8), dpi=110)
    width = 0.8 / max(1, len(models))
    colours = plt.get_cmap("tab10")
    for i, (model, scores) in enumerate(models.items()):
        xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(names))]
        ys = [100 * (scores.get(b) or 0.0) for b in names]
        ax.bar(xs, ys, width=width, label=model, color=colours(i % 10))
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("pass@1 (%)")
    ax.set_ylim(0, 100)
    ax.legend(frameon=False, fontsize=8, ncol=min(3, len(models)), loc="upper left", bbox_to_anchor=(0, 1.22))
    return _save(plt, fig, ax, title, path)
