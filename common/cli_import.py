"""ivr import: turn flows from other tools (Twilio Studio) into FlowDesigner flows.

    ivr import studio FILE.json [-o FLOW.json] [--strict] [--json] [--id ID] [--name NAME]
                      [--department QUEUE=DEPT ...] [--departments a,b] [--set NAME=VALUE ...]
                      [--subflow SID=FILE.json ...]

Prints the report (what each widget became, every finding, the validator's verdict) and writes the
flow to ``-o`` (stdout without it, after the report when ``--json`` is not given). Exit status: 0
the flow validates, 1 it does not (or ``--strict`` and there are findings), 2 unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from common.cli_common import HelpFormatter, UsageError, load_json
from common.core.studio import FlowTooLarge, ImportOptions, StudioImportError, import_studio

EPILOG = """examples:
  ivr import studio exported.json -o support_line.json
  ivr import studio flow.json --department WW0123=support --set WORKFLOW_SID=WW0123 --strict
  ivr import studio flow.json --json | jq .report.warnings
  ivr import studio main.json --subflow FW0123=verify_caller.json -o main_flow.json

Widget names become node ids; what each widget became and everything that runs differently from
Studio is in the report (docs/studio-import.md has the full mapping)."""


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} {item!r}: write NAME=VALUE")
        out[key.strip()] = value.strip()
    return out


def options_from(args: argparse.Namespace) -> ImportOptions:
    departments = None
    if args.departments is not None:
        departments = [d.strip() for d in args.departments.split(",") if d.strip()]
    subflows = {sid: load_json(path) for sid, path in _pairs(args.subflow, "--subflow").items()}
    return ImportOptions(flow_id=args.id, name=args.name, departments=departments,
                         department_map=_pairs(args.department, "--department"),
                         placeholders=_pairs(args.set, "--set"), subflows=subflows)  # fmt: skip


def cmd_import_studio(args: argparse.Namespace) -> int:
    document = load_json(args.file)
    try:
        result = import_studio(document, options_from(args))
    except FlowTooLarge as exc:
        raise UsageError(f"{args.file}: too large to import: {exc}") from exc
    except StudioImportError as exc:
        where = f" ({exc.field})" if exc.field else ""
        raise UsageError(f"{args.file}: not a Studio flow{where}: {exc}") from exc
    text = json.dumps(result.flow, indent=2, ensure_ascii=False)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({"report": result.report, **({} if args.output else {"flow": result.flow})}, indent=2,
                         ensure_ascii=False))  # fmt: skip
    else:
        _print_report(args.file, result.report, sys.stderr if not args.output else sys.stdout)
        if not args.output:
            print(text)
    if not result.ok:
        return 1
    return 1 if args.strict and result.report["warnings"] else 0


def _print_report(path: str, report: dict[str, Any], out: Any) -> None:
    for entry in report["widgets"]:
        nodes = f" -> {', '.join(entry['nodes'])}" if entry["nodes"] else ""
        print(f"{path}: {entry['widget']} ({entry['type']}): {entry['became']}{nodes}", file=out)
    for finding in report["warnings"] + report["notes"]:
        prop = f" [{finding['property']}]" if finding.get("property") else ""
        print(f"{path}: {finding['severity']}: {finding['widget']}{prop}: {finding['code']}: {finding['message']}",
              file=out)  # fmt: skip
    for issue in report["validation"]["errors"] + report["validation"]["warnings"]:
        where = f"node '{issue['node_id']}': " if issue.get("node_id") else ""
        print(f"{path}: validation {issue['severity']}: {where}{issue['code']}: {issue['message']}", file=out)
    verdict = "validates" if report["ok"] else "does not validate"
    print(f"{path}: flow '{report['flowId']}' {verdict}; {len(report['warnings'])} warning(s)", file=out)


def add_commands(sub: Any) -> None:
    """Register this module's commands on the ``ivr`` parser's subparsers."""
    top = sub.add_parser("import", help="turn a flow from another tool (Twilio Studio) into a FlowDesigner flow",
                         description="turn a flow from another tool into a FlowDesigner flow",
                         epilog="example:\n  ivr import studio studio_export.json -o flow.json --strict",
                         formatter_class=HelpFormatter)  # fmt: skip
    kinds = top.add_subparsers(dest="source", metavar="SOURCE", required=True)
    p = kinds.add_parser("studio", help="a Twilio Studio flow export (definition or Flow resource)",
                         description="import a Twilio Studio flow export", epilog=EPILOG,
                         formatter_class=HelpFormatter)  # fmt: skip
    p.add_argument("file", metavar="FILE.json", help="the exported definition, or the Flow resource that holds it")
    p.add_argument("-o", "--output", metavar="FLOW.json", help="write the flow here (default: standard output)")
    p.add_argument("--strict", action="store_true", help="fail (exit 1) on any warning, for CI")
    p.add_argument("--json", action="store_true", help="print the report (and the flow, without -o) as JSON")
    p.add_argument("--id", help="the flow's id (default: from its name)")
    p.add_argument("--name", help="the flow's name (default: the Flow's friendly_name or description)")
    p.add_argument("--department", action="append", default=[], metavar="QUEUE=DEPT",
                   help="queue name or workflow SID -> department id (repeatable)")
    p.add_argument("--departments", metavar="A,B", help="the account's department ids, to match queue names against")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="value of a ${NAME} placeholder (repeatable)")
    p.add_argument("--subflow", action="append", default=[], metavar="SID=FILE.json",
                   help="the export of the subflow a run-subflow widget names (flow_sid), inlined there (repeatable)")
    p.set_defaults(func=cmd_import_studio, command="import studio")
