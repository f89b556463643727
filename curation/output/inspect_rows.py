"""``curate inspect``: rows of a curated folder printed to be read: the problem, the end of the
response, the verdict and the reason (what one looks at when a funnel surprises)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl


class InspectError(Exception):
    """One line for the user."""


def _frame(folder: Path, rejected: bool) -> pl.DataFrame:
    sub = folder / ("rejected" if rejected else "data")
    files = sorted(sub.glob("*.parquet"))
    if not files:
        raise InspectError(f"{folder}: no {sub.name}/*.parquet (not a curated folder; run `curate <domain> --out "
                           f"{folder}` first)")
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")


def _clip(text: str, chars: int, *, end: bool) -> str:
    text = text.strip()
    if len(text) <= chars:
        return text
    return ("... " + text[-chars:].lstrip()) if end else (text[:chars].rstrip() + " ...")


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines()) or prefix


def _block(i: int, n: int, row: dict, rejected: bool, chars: int) -> str:
    if rejected:
        head = f"[{i}/{n}] rejected at {row['stage']}: {row['reason']}"
        problem, response = row.get("problem"), row.get("response")
    else:
        head = f"[{i}/{n}] kept"
        problem, response = row["messages"][0]["content"], row["messages"][-1]["content"]
    ident = row.get("sample_id") or row.get("id") or row.get("problem_id")
    head += "  (" + ", ".join(x for x in (ident and f"id {ident}", row.get("source") and f"source {row['source']}")
                              if x) + ")"
    lines = [head]
    if problem is not None:
        lines += ["  problem:", _indent(_clip(problem, chars, end=False))]
    if row.get("reference"):
        lines.append(f"  reference: {_clip(str(row['reference']), 200, end=False)}")
    if response is not None:
        shown = "" if len(response.strip()) <= chars else f" (the last {chars:,} of {len(response):,} characters)"
        lines += [f"  response{shown}:", _indent(_clip(response, chars, end=True))]
    elif rejected and row.get("responses"):
        lines.append(f"  responses: {len(row['responses'])} in the source (rejected before generation)")
    elif rejected and row.get("raw"):
        lines += ["  source row:", _indent(_clip(row["raw"], chars, end=False))]
    verdict = row.get("verdict")
    if verdict and verdict.get("reason"):
        passed = {True: "passed", False: "failed", None: "not decided"}[verdict["passed"]]
        lines.append(f"  verdict: {passed}, {verdict['reason']}" + (f": {_clip(verdict['detail'], 300, end=False)}"
                                                                     if verdict.get("detail") else ""))
    if rejected and row.get("detail") and not (verdict and verdict.get("detail") == row["detail"]):
        lines.append(f"  detail: {_clip(row['detail'], 300, end=False)}")
    return "\n".join(lines)


def inspect_rows(folder: str | Path, *, rejected: bool = False, reason: str | None = None, stage: str | None = None,
                 n: int = 5, chars: int = 600) -> str:
    """The first ``n`` kept (or ``rejected``) rows of a curated folder, filtered by ``reason`` (a
    rejected row's reason, or a kept row's verdict reason) and ``stage`` (rejected rows), as text."""
    folder = Path(folder)
    frame = _frame(folder, rejected)
    if rejected:
        reasons = Counter(zip(frame["stage"].to_list(), frame["reason"].to_list(), strict=True))
        if stage is not None:
            frame = frame.filter(pl.col("stage") == stage)
        if reason is not None:
            frame = frame.filter(pl.col("reason") == reason)
        known = ", ".join(f"{s}/{r} {c}" for (s, r), c in reasons.most_common())
    else:
        reasons = Counter(frame["verdict"].struct.field("reason").to_list())
        if reason is not None:
            frame = frame.filter(pl.col("verdict").struct.field("reason") == reason)
        known = ", ".join(f"{r} {c}" for r, c in reasons.most_common())
    what = "rejected" if rejected else "kept"
    if frame.height == 0:
        wanted = " and ".join(x for x in (stage and f"stage {stage}", reason and f"reason {reason}") if x)
        raise InspectError(f"{folder}: no {what} row" + (f" with {wanted}" if wanted else "") +
                           (f" ({what} rows by {'stage/reason' if rejected else 'verdict reason'}: {known})"
                            if known else ""))
    rows = frame.head(n).to_dicts()
    blocks = [_block(i + 1, len(rows), row, rejected, chars) for i, row in enumerate(rows)]
    return "\n\n".join(blocks) + f"\n\n{len(rows)} of {frame.height:,} {what} row(s) shown\n"
