"""The one-sentence answer and the table of an :class:`~metrics_api.ask.interpret.Intent`'s results."""

from __future__ import annotations

from ..engine import python_value


def fmt(value, unit: str) -> str:
    if value is None:
        return "no data"
    value = float(value)
    if unit == "usd":
        return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"
    if unit == "percent":
        return f"{value * 100:.1f}%"
    if unit == "kg":
        return f"{value:,.1f} kg"
    if unit == "rating":
        return f"{value:.2f} / 5"
    if unit == "days":
        return f"{value:.2f} days"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _change(now, before, unit: str, better: str) -> str:
    if now is None or before is None:
        return "with nothing to compare it with"
    now, before = float(now), float(before)
    if unit == "percent":
        points = (now - before) * 100
        direction = "up" if points > 0 else "down" if points < 0 else "unchanged"
        return f"{direction} {abs(points):.1f} points from {fmt(before, unit)}"
    if before == 0:
        return f"against {fmt(before, unit)}"
    pct = (now - before) / abs(before) * 100
    direction = "up" if pct > 0 else "down" if pct < 0 else "unchanged"
    return f"{direction} {abs(pct):.1f}% from {fmt(before, unit)}"


def _table(result) -> dict:
    return {"columns": result.table.column_names, "rows": result.records()}


def _name(dimension: str) -> str:
    return dimension.split("__")[-1].replace("_", " ")


def _explain(intent, metric, overall, breakdown, layer, unit, better) -> tuple[str, dict]:
    """ "; by carrier and weather, the biggest drag is X": the group that moved the metric most.

    A rate (with a denominator): each group's shortfall against the overall rate, weighted by its
    size ((overall - rate) x denominator, sign turned for lower-is-better rates), so a group of
    one parcel does not explain much. A sum: each group's change from the period before, in the
    direction the whole moved."""
    now, before = breakdown[0].records(), breakdown[1].records()
    dims = intent.breakdown
    support = layer.denominators.get(metric)

    def key(row) -> tuple:
        return tuple(row.get(d) for d in dims)

    earlier = {key(r): r.get(metric) for r in before}
    rows = []
    for r in now:
        value = r.get(metric)
        row = {
            **{d: r.get(d) for d in dims},
            metric: value,
            f"{metric}_before": earlier.get(key(r)),
        }
        if support:
            size = r.get(support) or 0
            row[support] = size
            gap = (float(overall) - float(value)) * size if None not in (value, overall) else 0.0
            row["impact"] = gap if better == "higher" else -gap
        else:
            prior = earlier.get(key(r))
            row["impact"] = float(value or 0) - float(prior or 0)
        rows.append(row)
    if not support:
        total_change = sum(r["impact"] for r in rows)
        rows.sort(key=lambda r: r["impact"] if total_change < 0 else -r["impact"])
    else:
        rows.sort(key=lambda r: -r["impact"])
    columns = [*dims, metric, f"{metric}_before", *([support] if support else []), "impact"]
    table = {"columns": columns, "rows": rows}
    if not rows:
        return "; no breakdown has data", table
    top = rows[0]
    who = " in ".join(str(top.get(d)) for d in dims)
    by = " and ".join(_name(d) for d in dims)
    if support:
        size = f" over {fmt(top[support], 'count')} {layer.metrics[support].label.lower()}"
        return f"; by {by}, the biggest drag is {who} at {fmt(top[metric], unit)}{size}", table
    change = _change(top[metric], top[f"{metric}_before"], unit, better)
    return f"; by {by}, the biggest change is {who}: {fmt(top[metric], unit)}, {change}", table


def compose(intent, main, previous, breakdown, layer, vocabulary) -> tuple[str, dict]:
    metric = intent.metrics[0]
    spec = vocabulary.metrics.get(metric, {})
    unit, better = spec.get("unit", "count"), spec.get("better", "higher")
    label = layer.metrics[metric].label
    where = "".join(f" for {v}" for _, v in intent.filters)
    when = f" {intent.window.text()}" if intent.window else " over all the data"
    rows = main.records()

    if intent.kind in ("value",) or (intent.kind in ("compare", "why") and not intent.group_by):
        value = rows[0].get(metric) if rows else None
        parts = [f"{label}{where}{when} was {fmt(value, unit)}"]
        for other in intent.metrics[1:]:
            o_spec = vocabulary.metrics.get(other, {})
            parts.append(
                f"{layer.metrics[other].label.lower()} {fmt(rows[0].get(other) if rows else None, o_spec.get('unit', 'count'))}"
            )
        sentence = ", ".join(parts)
        table = _table(main)
        if previous is not None:
            before_rows = previous.records()
            before = before_rows[0].get(metric) if before_rows else None
            sentence += f", {_change(value, before, unit, better)} {intent.compare.text()}"
            table = {
                "columns": ["period", "start", "end", *intent.metrics],
                "rows": [
                    {
                        "period": w.label,
                        "start": w.start.isoformat(),
                        "end": w.end.isoformat(),
                        **{m: (r[0].get(m) if r else None) for m in intent.metrics},
                    }
                    for w, r in ((intent.window, rows), (intent.compare, before_rows))
                ],
            }
        if breakdown:
            explained, table = _explain(intent, metric, value, breakdown, layer, unit, better)
            sentence += explained
        return sentence + ".", table

    groups = [c for c in main.table.column_names if c not in intent.metrics]
    if intent.kind == "trend":
        time_col = groups[0]
        series = [r for r in rows if r.get(metric) is not None]
        if not series:
            return f"{label}{where}{when}: no data.", _table(main)
        peak = max(series, key=lambda r: r[metric])
        first, last = series[0], series[-1]
        sentence = (
            f"{label}{where} by {intent.grain}{when}: {fmt(first[metric], unit)} on "
            f"{first[time_col]}, {fmt(last[metric], unit)} on {last[time_col]}; highest "
            f"{fmt(peak[metric], unit)} on {peak[time_col]}"
        )
        return sentence + ".", _table(main)

    def who(row) -> str:
        return " / ".join(str(python_value(row.get(g))) for g in groups)

    if previous is not None:  # a grouped comparison: each group now and before
        before = {who(r): r.get(metric) for r in previous.records()}
        table_rows = []
        for r in rows:
            table_rows.append(
                {
                    **{g: r.get(g) for g in groups},
                    metric: r.get(metric),
                    f"{metric}_before": before.get(who(r)),
                }
            )
        moves = [
            (r, float(r[metric]) - float(r[f"{metric}_before"]))
            for r in table_rows
            if r[metric] is not None and r[f"{metric}_before"] is not None
        ]
        sentence = f"{label}{where} by {', '.join(_name(g) for g in groups)}{when} against {intent.compare.text()}"
        if not moves:
            sentence += ": no group has data in both periods"
        else:
            row, _ = max(moves, key=lambda m: abs(m[1]))
            sentence += (
                f": the biggest change is {who(row)}, {fmt(row[metric], unit)}, "
                f"{_change(row[metric], row[f'{metric}_before'], unit, better)}"
            )
        return sentence + ".", {
            "columns": [*groups, metric, f"{metric}_before"],
            "rows": table_rows,
        }

    if not rows:
        return f"{label}{where}{when}: no data.", _table(main)
    listed = ", ".join(f"{who(r)} ({fmt(r.get(metric), unit)})" for r in rows[:10])
    if intent.kind == "top":
        word = "Top" if intent.order_by[0].startswith("-") else "Bottom"
        if intent.limit == 1:
            which = "highest" if word == "Top" else "lowest"
            sentence = f"{who(rows[0])} has the {which} {label.lower()}{where}{when}: {fmt(rows[0].get(metric), unit)}"
        else:
            sentence = f"{word} {intent.limit} by {label.lower()}{where}{when}: {listed}"
        return sentence + ".", _table(main)
    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
    sentence = f"{label}{where} by {', '.join(_name(g) for g in groups)}{when}: {listed}{more}"
    return sentence + ".", _table(main)
