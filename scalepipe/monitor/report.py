"""A drift report as one static HTML page (inline SVG, no outside asset: it opens from a
mail or a CI artefact) and a PNG summary (matplotlib)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from scalepipe.monitor.drift import ColumnDrift, DriftReport

_WIDTH, _HEIGHT, _PAD = 360, 150, 24
_REFERENCE, _CURRENT, _DRIFT = "#8aa4c8", "#e07b39", "#c0392b"
_STYLE = """
body{font:14px system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.4em}.verdict{font-size:1.2em;font-weight:600;padding:.4em .8em;
display:inline-block;border-radius:4px}.drift{background:#fbe3e0;color:#c0392b}
.ok{background:#e3f4e6;color:#1e7b34}table{border-collapse:collapse;margin:1em 0}
td,th{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}tr.drifted td{color:#c0392b;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;border:1px solid #eee;padding:.5em}
figcaption{font-weight:600}.key span{display:inline-block;width:1em;height:.8em;
margin:0 .3em 0 0}.key span+span{margin-left:1em}
"""


def write_html(report: DriftReport, path: Path) -> Path:
    columns = [*report.features, *([report.output] if report.output else [])]
    rows = "".join(_row(column, report) for column in columns)
    figures = "".join(_figure(column) for column in columns)
    state = "drift" if report.drift else "ok"
    window = report.window
    title = f"Drift of {report.model}:{report.version}"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{escape(title)}</title><style>{_STYLE}</style></head><body>
<h1>{escape(title)}</h1>
<p class="verdict {state}">{escape(report.verdict)}</p>
<p>{report.rows:,} logged predictions from {escape(str(window.get("start")))} to
{escape(str(window.get("end")))} in {escape(str(window.get("log")))}; a column drifts when
its {report.statistic} reaches {report.threshold:g}; the verdict is drift when
{report.share_threshold:.0%} of the features drift, or the output does
({len(report.drifted)} of {len(report.features)}: {report.share:.0%}).</p>
<table><thead><tr><th>column</th><th>kind</th><th>rows</th><th>missing now</th>
<th>PSI</th><th>KS</th><th>JS</th><th>Wasserstein (/std)</th><th>drift</th></tr></thead>
<tbody>{rows}</tbody></table>
<p class="key"><span style="background:{_REFERENCE}"></span>reference (training)
<span style="background:{_CURRENT}"></span>current (logged)</p>
<div class="grid">{figures}</div></body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _row(column: ColumnDrift, report: DriftReport) -> str:
    marked = ' class="drifted"' if column.drifted else ""
    return (
        f"<tr{marked}><td>{escape(column.name)}</td><td>{column.kind}</td>"
        f"<td>{column.rows:,}</td><td>{column.missing_current:.1%}</td>"
        f"<td>{column.psi:.3f}</td><td>{column.ks:.3f}</td><td>{column.js:.3f}</td>"
        f"<td>{column.wasserstein:.4g} ({column.wasserstein_normed:.3f})</td>"
        f"<td>{'yes' if column.drifted else 'no'}</td></tr>"
    )


def _figure(column: ColumnDrift) -> str:
    """Reference and current shares per bin, side by side, as SVG bars."""
    bins = column.bins
    shown = [
        index for index, label in enumerate(bins.labels)
        if label != "other" or bins.current[index] > 0
    ]  # fmt: skip
    top = max([bins.reference[i] for i in shown] + [bins.current[i] for i in shown] + [1e-9])
    step = (_WIDTH - 2 * _PAD) / max(len(shown), 1)
    bar = step * 0.4
    parts = []
    for slot, index in enumerate(shown):
        left = _PAD + slot * step
        for offset, share, colour in ((0.1, bins.reference[index], _REFERENCE),
                                      (0.5, bins.current[index], _CURRENT)):  # fmt: skip
            height = (_HEIGHT - 2 * _PAD) * share / top
            parts.append(
                f'<rect x="{left + offset * step:.1f}" y="{_HEIGHT - _PAD - height:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{escape(bins.labels[index])}: {share:.1%}</title></rect>"
            )
    base = _HEIGHT - _PAD
    axis = f'<line x1="{_PAD}" y1="{base}" x2="{_WIDTH - _PAD}" y2="{base}" stroke="#999"/>'
    ends = ""
    if shown:
        first, last = bins.labels[shown[0]], bins.labels[shown[-1]]
        ends = (
            f'<text x="{_PAD}" y="{_HEIGHT - 6}" font-size="10">{escape(first)}</text>'
            f'<text x="{_WIDTH - _PAD}" y="{_HEIGHT - 6}" font-size="10" '
            f'text-anchor="end">{escape(last)}</text>'
        )
    colour = f' style="color:{_DRIFT}"' if column.drifted else ""
    caption = f"{escape(column.name)}: PSI {column.psi:.3f}{' (drift)' if column.drifted else ''}"
    return (
        f'<figure data-column="{escape(column.name)}"><figcaption{colour}>{caption}</figcaption>'
        f'<svg width="{_WIDTH}" height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'role="img" aria-label="{escape(column.name)}">{"".join(parts)}{axis}{ends}</svg>'
        "</figure>"
    )


def write_png(report: DriftReport, path: Path) -> Path:
    """One bar per column: its statistic against the threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [*report.features, *([report.output] if report.output else [])]
    values = [column.value(report.statistic) for column in columns]
    figure, axes = plt.subplots(figsize=(max(4.0, 0.5 * len(columns) + 2), 3.2), dpi=100)
    axes.bar(
        [column.name for column in columns], values,
        color=[_DRIFT if column.drifted else _REFERENCE for column in columns],
    )  # fmt: skip
    axes.axhline(report.threshold, color="#444", linestyle="--", linewidth=1)
    axes.set_ylabel(report.statistic)
    axes.set_title(f"{report.model}:{report.version}: {report.verdict}", fontsize=10)
    axes.tick_params(axis="x", labelrotation=45, labelsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
