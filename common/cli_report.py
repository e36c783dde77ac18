"""ivr report: billing, costs, funnel, queue and call volume reports over the call events.

    ivr report billing [--month 2026-11] [--tenant T]
    ivr report costs   [--month 2026-11] [--tenant T]
    ivr report funnel FLOW [--version N] [--tenant T] [--chart funnel.svg|funnel.html]
    ivr report queues  [--department D] [--date 2026-11-03] [--tenant T]
    ivr report volume  [--by hour|day] [--flow F] [--since DAY] [--until DAY] [--tenant T]
                       [--chart volume.svg|volume.html]
    ivr report webhooks [--minutes N] [--by-route] [--project P | --url URL --api-key K] [--json]
    (every one: [--events FILE] [--json])

The numbers are those of the BigQuery views Terraform deploys (common/reports/sql.py runs the same
files on DuckDB), over the local events file that ``ivr run`` writes (``$IVR_EVENTS_DUCKDB``, else
``.ivr/events.duckdb``) or over ``--events FILE``: a DuckDB file or JSON lines of event rows.
``ivr report webhooks`` reads no events: webhook latency and fallback answers come from the running
stack's ``GET /api/reports/webhooks`` (its recorder, ``--url``), or with ``--project`` straight from
Cloud Monitoring's log-based metrics of that project.
Exit status: 0 a report was printed (even an empty one), 1 there are no events to read or the file
cannot be read (or the stack or Cloud Monitoring did not answer), 2 a bad option (the message names it).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from common.cli_common import URL_HELP, HelpFormatter, UsageError, default_url
from common.reports import render
from common.reports.events_file import ENV_VAR, ReportError
from common.reports.local import BadFilter, answer, open_reports

EVENTS_HELP = (f"read these events instead of the local file (${ENV_VAR}, else .ivr/events.duckdb): a DuckDB file "
               "with a call_events table, or JSON lines of event rows")  # fmt: skip

EPILOG = """examples:
  ivr report billing --month 2026-11
  ivr report costs --json | jq '.rows[0]'
  ivr report funnel support_line --version 3 --chart funnel.svg
  ivr report queues --department sales --date 2026-11-03
  ivr report volume --by day --since 2026-11-01 --chart volume.html
  ivr report webhooks --minutes 15
  ivr report webhooks --project my-ivr-prod --json
  ivr report billing --events exported.jsonl

Months are UTC calendar months of each call's start; minutes are rounded up per call as Twilio bills.
docs/reports.md explains every column."""


def _empty_message(name: str, filters: dict[str, Any]) -> str:
    given = ", ".join(f"{k} {v}" for k, v in filters.items())
    return f"no {name} rows" + (f" for {given}" if given else "") + " in these events"


def _print(name: str, body: dict[str, Any]) -> None:
    if name == "funnel":
        print(render.funnel_title(body))
        if body["nodes"]:
            print(render.funnel_table(body))
        else:
            print(_empty_message("funnel", body["filters"]), file=sys.stderr)
        return
    columns = {"billing": render.BILLING, "costs": render.COSTS, "queues": render.QUEUES,
               "volume": render.VOLUME}[name]  # fmt: skip
    if body["rows"]:
        print(render.table(render.volume_rows(body) if name == "volume" else body["rows"], columns))
    else:
        print(_empty_message(name, body["filters"]), file=sys.stderr)


def run(name: str, args: argparse.Namespace, filters: dict[str, str | None]) -> int:
    try:
        with open_reports(args.events) as reports:
            body = answer(reports, name, filters)
    except BadFilter as exc:
        option = "FLOW" if exc.field == "flow" else f"--{exc.field}"
        raise UsageError(f"{option}: {exc.detail}") from exc
    except ReportError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 1
    chart = getattr(args, "chart", None)
    if chart:
        try:
            written = render.write_chart(body, chart)
        except render.ChartFormatError as exc:
            raise UsageError(str(exc)) from exc
        except OSError as exc:
            raise UsageError(f"--chart {chart}: cannot write it: {exc.strerror or exc}") from exc
        print(f"{name} chart written to {written}", file=sys.stderr)
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        _print(name, body)
    return 0


def cmd_billing(args: argparse.Namespace) -> int:
    return run("billing", args, {"month": args.month, "tenant": args.tenant})


def cmd_costs(args: argparse.Namespace) -> int:
    return run("costs", args, {"month": args.month, "tenant": args.tenant})


def _check_chart(args: argparse.Namespace) -> None:
    if args.chart and not args.chart.lower().endswith((".svg", ".html", ".htm")):
        raise UsageError(f"--chart {args.chart}: write the chart to a .svg or .html file")


def cmd_funnel(args: argparse.Namespace) -> int:
    _check_chart(args)
    return run("funnel", args, {"flow": args.flow, "version": args.version, "tenant": args.tenant})


def cmd_queues(args: argparse.Namespace) -> int:
    return run("queues", args, {"department": args.department, "date": args.date, "tenant": args.tenant})


def cmd_volume(args: argparse.Namespace) -> int:
    _check_chart(args)
    return run("volume", args, {"by": args.by, "flow": args.flow, "since": args.since, "until": args.until,
                                "tenant": args.tenant})  # fmt: skip


def cmd_webhooks(args: argparse.Namespace) -> int:
    if not 1 <= args.minutes <= 60:
        raise UsageError(f"--minutes: {args.minutes} is out of range; use 1 to 60")
    if args.project:
        from common.reports import webhook_metrics

        try:
            body = webhook_metrics.answer(args.minutes, "cloudmonitoring", args.project,
                                          filters={"minutes": str(args.minutes)})  # fmt: skip
        except Exception as exc:  # the client's errors: credentials, permission, the network
            print(f"ivr: Cloud Monitoring of project {args.project} did not answer: {exc}", file=sys.stderr)
            return 1
    else:
        from common.cli_admin import api_key
        from common.cli_common import request

        body = request(args.url, "GET", f"/api/reports/webhooks?minutes={args.minutes}", key=api_key(args))[1]
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    where = "Cloud Monitoring" if body.get("source") == "cloudmonitoring" else "the stack's recorder"
    print(f"webhooks of every tenant, the last {body['minutes']} minutes, from {where}")
    if not body["latency"]:
        print(body.get("note") or "no webhook requests", file=sys.stderr)
        return 0
    print(render.table(body["latency"] if args.by_route else body["functions"],
                       render.WEBHOOK_ROUTES if args.by_route else render.WEBHOOK_FUNCTIONS))  # fmt: skip
    print()
    print(render.table(body["fallbacks"], render.FALLBACKS) if body["fallbacks"] else "no fallback answers")
    return 0


def add_commands(sub: Any) -> None:
    """Register this module's commands on the ``ivr`` parser's subparsers."""
    report = sub.add_parser("report", help="billing, cost, funnel, queue and call volume reports; webhook latency",
                            description=__doc__.split("\n\n")[0], epilog=EPILOG, formatter_class=HelpFormatter)
    kinds = report.add_subparsers(dest="report", required=True, metavar="REPORT")

    def kind(name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = kinds.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                                                      formatter_class=HelpFormatter)  # fmt: skip
        p.set_defaults(func=func)
        p.add_argument("--tenant", help="only this tenant")
        p.add_argument("--events", metavar="FILE", help=EVENTS_HELP)
        p.add_argument("--json", action="store_true", help="the report as JSON (the API's answer)")
        return p

    p = kind("billing", "per tenant and month: calls, billable minutes, steps, HTTP requests, recordings, "
             "transfers, estimated platform cost", cmd_billing)  # fmt: skip
    p.add_argument("--month", help="only this UTC month, YYYY-MM (e.g. 2026-11)")
    p = kind("costs", "per flow and version: calls, minutes, events and what they cost, in total and per call",
             cmd_costs)  # fmt: skip
    p.add_argument("--month", help="only this UTC month, YYYY-MM")
    p = kind("funnel", "per node of one flow version: callers, outcomes, hang-ups, time spent", cmd_funnel)
    p.add_argument("flow", help="the flow's id")
    p.add_argument("--version", help="the flow version (default: the highest with events)")
    p.add_argument("--chart", metavar="FILE", help="also draw the funnel to FILE: .svg, or .html (SVG inside)")
    p = kind("queues", "per department and UTC hour: offered, answered, abandoned, service level, waits",
             cmd_queues)  # fmt: skip
    p.add_argument("--department", help="only this department")
    p.add_argument("--date", help="only this UTC day, YYYY-MM-DD")
    p = kind("volume", "per flow and UTC hour or day: calls started, completed, failed, success rate, fallbacks",
             cmd_volume)  # fmt: skip
    p.add_argument("--by", choices=("hour", "day"), help="the period of a row (default hour)")
    p.add_argument("--flow", help="only this flow")
    p.add_argument("--since", metavar="DAY", help="from this UTC day, YYYY-MM-DD")
    p.add_argument("--until", metavar="DAY", help="to this UTC day, YYYY-MM-DD, included")
    p.add_argument("--chart", metavar="FILE", help="also draw calls per period to FILE: .svg, or .html (SVG inside)")
    p = kinds.add_parser("webhooks", help="webhook latency per function and fallback answers, platform-wide",
                         description="webhook latency (p50, p95) per function and fallback answers per minute, "
                         "every tenant's (the metrics carry no tenant label)", epilog=EPILOG,
                         formatter_class=HelpFormatter)  # fmt: skip
    p.set_defaults(func=cmd_webhooks)
    p.add_argument("--minutes", type=int, default=60, help="the last N minutes, 1 to 60 (default 60)")
    p.add_argument("--by-route", action="store_true", help="one line per minute, function and route")
    p.add_argument("--project", help="read Cloud Monitoring of this Google Cloud project instead of a stack")
    p.add_argument("--url", default=default_url(), help=URL_HELP)
    p.add_argument("--api-key", help="API key (default: $IVR_API_KEY, else the local stack's dev key)")
    p.add_argument("--json", action="store_true", help="the report as JSON (the API's answer)")
