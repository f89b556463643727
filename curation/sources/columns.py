"""The source's columns against the field mapping: a mapped or filtered column that no row has is
a configuration mistake, reported in one line with the columns the rows do have (and the closest
one), before any work is done on them."""

from __future__ import annotations

import difflib

from curation.sources.rows import BadRow


def columns_of(rows: list) -> list[str]:
    """Every column seen in ``rows``, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        if isinstance(row, dict):
            seen.update(dict.fromkeys(row))
    return list(seen)


def _named(columns: list[str]) -> str:
    shown = ", ".join(columns[:20]) + (f", ... ({len(columns)} in all)" if len(columns) > 20 else "")
    return shown or "none"


def _closest(name: str, columns: list[str]) -> str:
    match = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def column_problems(rows: list, mapping: dict[str, str], where: dict[str, str]) -> list[str]:
    """One line per mapped (``--field OURS=THEIRS``) or filtered (``--where FIELD=...``) column that
    none of ``rows`` (the source's first rows) has."""
    if not any(isinstance(r, dict) for r in rows) or all(isinstance(r, BadRow) for r in rows):
        return []
    columns = columns_of(rows)
    out = []
    for ours, theirs in sorted(mapping.items()):
        if theirs not in columns:
            out.append(f"source.fields: {ours}={theirs}: no row has a column {theirs!r} (the source's columns: "
                       f"{_named(columns)}){_closest(theirs, columns)}")
    for field in sorted(where):
        if field not in columns:
            out.append(f"source.where: no row has a column {field!r} (the source's columns: {_named(columns)})"
                       f"{_closest(field, columns)}")
    return out


def nothing_loaded_problem(rows_in: int, reasons: dict[str, int], columns: list[str],
                           mapping: dict[str, str]) -> str | None:
    """When every source row was rejected by the load stage and the column the problem is read from
    is not among the source's columns: one line with the reasons and the columns (a mapping that
    does not fit the source). Rows that have the column but malformed values are a result, not this."""
    if rows_in == 0 or sum(reasons.values()) < rows_in or mapping.get("problem", "problem") in columns:
        return None
    top = ", ".join(f"{k} x{n}" for k, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
    return (f"source: none of its {rows_in} rows became a problem ({top}); the source's columns: {_named(columns)}; "
            "map ours to them with --field OURS=COLUMN (ours: problem, answer, responses, ...)")
