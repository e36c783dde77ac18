"""The reports as a person reads them: aligned terminal tables, and the funnel as a picture.

    table(rows, BILLING)                 text with a header line, one line per row
    funnel_table(funnel)                 the funnel's nodes with their outcomes
    funnel_svg(funnel) / funnel_html(funnel)   a self-contained chart (no script, no external file)
    volume_svg(volume) / volume_html(volume)   calls per period and the success rate, as a picture
    write_chart(report, path)            .svg or .html, by the path's suffix (a funnel or a volume)

Rules owned here:
- Columns are declared once per report (``Column``: key, heading, format); numbers align right, text
  left, and a missing value is ``-`` (a service level with nothing answered or abandoned is not 0 %).
- Money keeps six decimals: a call costs fractions of a cent, and rounding it to cents would show
  $0.00 for every flow.
- The chart draws what the view says and nothing more: one bar per node in funnel order (mean step),
  its length the callers who reached the node, split into the callers who went on, who hung up there
  and whose call ended there otherwise. Node ids and types are the flow author's text: every one is
  XML-escaped, so a node called ``<script>`` is a label, not markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.0f}"


def _usd(value: Any) -> str:
    return f"${value:,.6f}"


def _seconds(value: Any) -> str:
    return f"{value:,.1f}"


def _percent(value: Any) -> str:
    return f"{100 * value:.1f}%"


def _text(value: Any) -> str:
    return str(value)


def _month(value: Any) -> str:
    return str(value)[:7]  # the view's month is its first day: 2026-11-01 reads as 2026-11


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    format: Callable[[Any], str] = _text
    numeric: bool = True


def _label(key: str, heading: str) -> Column:
    return Column(key, heading, _text, numeric=False)


BILLING = (
    _label("tenant_id", "tenant"), Column("month", "month", _month, numeric=False), Column("calls", "calls", _count),
    Column("calls_not_completed", "open", _count), Column("billable_minutes", "minutes", _count),
    Column("webhook_steps", "steps", _count), Column("http_requests", "http", _count),
    Column("recording_seconds", "rec s", _count), Column("transfers", "transfers", _count),
    Column("events", "events", _count), Column("platform_cost_usd", "platform", _usd),
    Column("twilio_voice_usd", "twilio voice", _usd),
)  # fmt: skip
COSTS = (
    _label("tenant_id", "tenant"), Column("month", "month", _month, numeric=False), _label("flow_id", "flow"),
    _label("flow_version", "version"), Column("calls", "calls", _count),
    Column("billable_minutes", "minutes", _count), Column("webhook_steps", "steps", _count),
    Column("events", "events", _count), Column("platform_cost_usd", "platform", _usd),
    Column("platform_cost_per_call_usd", "platform/call", _usd),
    Column("twilio_voice_per_call_usd", "twilio/call", _usd),
)  # fmt: skip
QUEUES = (
    _label("tenant_id", "tenant"), _label("department_id", "department"), _label("hour", "hour (UTC)"),
    Column("offered", "offered", _count), Column("answered", "answered", _count),
    Column("abandoned", "abandoned", _count), Column("left_other", "other", _count),
    Column("service_level", "service level", _percent), Column("wait_average_seconds", "wait avg s", _seconds),
    Column("wait_p90_seconds", "wait p90 s", _seconds),
    Column("abandon_wait_average_seconds", "abandon avg s", _seconds),
)  # fmt: skip
VOLUME = (
    _label("tenant_id", "tenant"), _label("flow_id", "flow"), _label("period", "period (UTC)"),
    Column("calls_started", "started", _count), Column("calls_completed", "completed", _count),
    Column("calls_succeeded", "ok", _count), Column("calls_failed", "failed", _count),
    Column("calls_in_progress", "open", _count), Column("success_rate", "success", _percent),
    Column("failed_guard", "guard", _count), Column("failed_unhandled_outcome", "unhandled", _count),
    Column("failed_fallback", "fallback", _count), Column("fallback_answers", "fallbacks", _count),
)  # fmt: skip
def _ms(value: Any) -> str:
    return f"{value:,.1f}"


WEBHOOK_FUNCTIONS = (
    _label("function", "function"), Column("requests", "requests", _count), Column("p50_ms", "p50 ms", _ms),
    Column("p95_ms", "p95 ms", _ms), Column("mean_ms", "mean ms", _ms), Column("max_ms", "max ms", _ms),
)  # fmt: skip
WEBHOOK_ROUTES = (
    _label("minute", "minute (UTC)"), _label("function", "function"), _label("route", "route"),
    Column("requests", "requests", _count), Column("p50_ms", "p50 ms", _ms), Column("p95_ms", "p95 ms", _ms),
)  # fmt: skip
FALLBACKS = (
    _label("minute", "minute (UTC)"), _label("reason", "reason"), _label("function", "function"),
    Column("answers", "answers", _count),
)  # fmt: skip
FUNNEL = (
    _label("node_id", "node"), _label("node_type", "type"), Column("average_step", "step", _seconds),
    Column("callers", "callers", _count), Column("entered", "entered", _count), Column("left", "left", _count),
    Column("hung_up", "hung up", _count), Column("ended", "ended", _count),
    Column("seconds_average", "avg s", _seconds), _label("outcomes", "left by"),
)  # fmt: skip


def _cell(column: Column, row: dict[str, Any]) -> str:
    value = row.get(column.key)
    return "-" if value is None else column.format(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    cells = [[column.heading for column in columns]] + [[_cell(c, row) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = []
    for line in cells:
        parts = [text.rjust(w) if c.numeric else text.ljust(w)
                 for text, w, c in zip(line, widths, columns, strict=True)]  # fmt: skip
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def outcomes_text(outcomes: Sequence[dict[str, Any]]) -> str:
    return " ".join(f"{o['outcome']}:{o['left']}" for o in outcomes) or "-"


def funnel_table(funnel: dict[str, Any]) -> str:
    rows = [{**node, "outcomes": outcomes_text(node["outcomes"])} for node in funnel["nodes"]]
    return table(rows, FUNNEL)


def funnel_title(funnel: dict[str, Any]) -> str:
    versions = ", ".join(funnel["versions"]) or "none"
    return f"flow {funnel['flow_id']} version {funnel['flow_version'] or '-'} (versions with events: {versions})"


# -- the chart --------------------------------------------------------------------------------------

LABEL_WIDTH, BAR_WIDTH, ROW_HEIGHT, TOP, MARGIN = 220, 460, 34, 64, 16
COLOURS = {"went on": "#3b6ea8", "hung up": "#c8473d", "ended": "#9a9a9a"}


def _segments(node: dict[str, Any]) -> list[tuple[str, int]]:
    callers = int(node.get("callers") or 0)
    hung_up = min(callers, int(node.get("hung_up") or 0))
    ended = min(callers - hung_up, max(0, int(node.get("ended") or 0) - hung_up))
    return [("went on", callers - hung_up - ended), ("hung up", hung_up), ("ended", ended)]


def funnel_svg(funnel: dict[str, Any]) -> str:
    nodes = funnel["nodes"]
    widest = max((int(n.get("callers") or 0) for n in nodes), default=0) or 1
    height = TOP + ROW_HEIGHT * max(1, len(nodes)) + 40
    width = MARGIN * 2 + LABEL_WIDTH + BAR_WIDTH + 120
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13" role="img">',
           f"<title>{escape(funnel_title(funnel))}</title>",
           f'<text x="{MARGIN}" y="24" font-size="16" font-weight="bold">{escape(funnel_title(funnel))}</text>',
           f'<text x="{MARGIN}" y="44" fill="#555">callers per node, in the order callers reach them</text>',
           ]  # fmt: skip
    legend_x = MARGIN + LABEL_WIDTH
    for name, colour in COLOURS.items():
        out.append(f'<rect x="{legend_x}" y="{TOP - 14}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{legend_x + 14}" y="{TOP - 5}" font-size="11">{name}</text>')  # fmt: skip
        legend_x += 90
    if not nodes:
        out.append(f'<text x="{MARGIN}" y="{TOP + 20}">no node events for this flow version</text>')
    for index, node in enumerate(nodes):
        y = TOP + index * ROW_HEIGHT
        label = f"{node['node_id']} ({node.get('node_type') or '?'})"
        out.append(f'<text x="{MARGIN}" y="{y + 21}">{escape(label[:34])}</text>')
        x = float(MARGIN + LABEL_WIDTH)
        for name, count in _segments(node):
            if count:
                length = BAR_WIDTH * count / widest
                out.append(f'<rect x="{x:.1f}" y="{y + 6}" width="{length:.1f}" height="{ROW_HEIGHT - 12}" '
                           f'fill="{COLOURS[name]}"><title>{escape(f"{name}: {count}")}</title></rect>')  # fmt: skip
                x += length
        summary = f"{node.get('callers') or 0}"
        if node.get("hung_up"):
            summary += f" ({node['hung_up']} hung up)"
        out.append(f'<text x="{x + 6:.1f}" y="{y + 21}">{escape(summary)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


CSP = quoteattr("default-src 'none'; style-src 'unsafe-inline'")  # the page loads nothing and runs nothing


def funnel_html(funnel: dict[str, Any]) -> str:
    title = escape(funnel_title(funnel))
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(text)}</td>" for text in
                         (n["node_id"], str(n.get("node_type") or "-"), str(n.get("callers")), str(n.get("hung_up")),
                          outcomes_text(n["outcomes"]))) + "</tr>"
        for n in funnel["nodes"])  # fmt: skip
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content={CSP}>"
            f"<title>{title}</title><style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 10px;"
            "text-align:left}}</style></head><body>\n" + funnel_svg(funnel) +
            "<table><tr><th>node</th><th>type</th><th>callers</th><th>hung up</th><th>left by</th></tr>"
            f"{rows}</table>\n</body></html>\n")  # fmt: skip


def period(row: dict[str, Any]) -> str:
    """A volume row's period as a person reads it: ``2026-11-03 10:00`` or ``2026-11-03``."""
    hour = row.get("hour")
    return str(hour)[:16].replace("T", " ") if hour else str(row.get("day"))


def volume_rows(volume: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**row, "period": period(row)} for row in volume["rows"]]


def _totals(rows: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, int]]]:
    """Per period, the counts of every flow and tenant shown added up (the chart's one bar)."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        into = out.setdefault(period(row), {"succeeded": 0, "failed": 0, "in progress": 0})
        into["succeeded"] += int(row["calls_succeeded"])
        into["failed"] += int(row["calls_failed"])
        into["in progress"] += int(row["calls_in_progress"])
    return sorted(out.items())


VOLUME_COLOURS = {"succeeded": "#3b6ea8", "failed": "#c8473d", "in progress": "#9a9a9a"}


def volume_svg(volume: dict[str, Any]) -> str:
    """One column per period (stacked: succeeded, failed, in progress), the success rate above it."""
    periods = _totals(volume["rows"])
    column, plot = 28, 220
    width = MARGIN * 2 + 60 + column * max(1, len(periods))
    height = TOP + plot + 110
    tallest = max((sum(c.values()) for _, c in periods), default=0) or 1
    title = "calls per " + ("day" if volume["rows"] and "day" in volume["rows"][0] else "hour") + " (UTC)"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img">',
           f"<title>{escape(title)}</title>",
           f'<text x="{MARGIN}" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
           f'<text x="{MARGIN}" y="44" fill="#555">the number above a column: success rate '
           "(succeeded / (succeeded + failed))</text>"]  # fmt: skip
    legend_x = MARGIN + 60
    for name, colour in VOLUME_COLOURS.items():
        out.append(f'<rect x="{legend_x}" y="{TOP - 14}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{legend_x + 14}" y="{TOP - 5}">{name}</text>')  # fmt: skip
        legend_x += 90
    base = TOP + 20 + plot
    out.append(f'<text x="{MARGIN}" y="{TOP + 30}">{tallest}</text><text x="{MARGIN}" y="{base}">0</text>')
    if not periods:
        out.append(f'<text x="{MARGIN + 60}" y="{TOP + 60}">no calls in these events</text>')
    for index, (name, counts) in enumerate(periods):
        x = MARGIN + 60 + index * column
        y = float(base)
        for part, count in counts.items():
            if count:
                length = plot * count / tallest
                y -= length
                tip = escape(f"{name} {part}: {count}")
                out.append(f'<rect x="{x}" y="{y:.1f}" width="{column - 6}" height="{length:.1f}" '
                           f'fill="{VOLUME_COLOURS[part]}"><title>{tip}</title></rect>')  # fmt: skip
        judged = counts["succeeded"] + counts["failed"]
        if judged:
            rate = round(100 * counts["succeeded"] / judged)
            out.append(f'<text x="{x}" y="{y - 4:.1f}" font-size="9">{rate}%</text>')
        out.append(f'<text transform="translate({x + 10},{base + 8}) rotate(60)" font-size="9">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def volume_html(volume: dict[str, Any]) -> str:
    heading = "".join(f"<th>{escape(c.heading)}</th>" for c in VOLUME)
    rows = "".join("<tr>" + "".join(f"<td>{escape(_cell(c, row))}</td>" for c in VOLUME) + "</tr>"
                   for row in volume_rows(volume))  # fmt: skip
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content={CSP}>"
            "<title>call volume</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;"
            "text-align:right}</style></head><body>\n" + volume_svg(volume) +
            f"<table><tr>{heading}</tr>{rows}</table>\n</body></html>\n")  # fmt: skip


class ChartFormatError(ValueError):
    pass


def write_chart(report: dict[str, Any], path: str | Path) -> Path:
    """The report's chart (a funnel, or a volume: ``report["report"] == "volume"``) to ``path``."""
    target = Path(path)
    suffix = target.suffix.lower()
    volume = report.get("report") == "volume"
    if suffix == ".svg":
        text = volume_svg(report) if volume else funnel_svg(report)
    elif suffix in (".html", ".htm"):
        text = volume_html(report) if volume else funnel_html(report)
    else:
        raise ChartFormatError(f"--chart {target}: write the chart to a .svg or .html file")
    target.write_text(text, encoding="utf-8")
    return target
