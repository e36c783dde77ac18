"""``POST /api/flows/{flowId}/import``: a Twilio Studio export saved as the flow's draft, with its report.

    import_studio(admin, tenant, flow_id, body, author, departments=None, if_match=None) -> dict

Rules owned here:
- The body is ``StudioImportRequest``: ``format`` (``"studio"``), ``document`` (the export: a bare
  definition or the REST Flow resource), and the import's options (``name``, ``strict``,
  ``departmentMap``, ``placeholders``, ``subflows``). A body that is not that, or a document that is not
  a Studio flow, is a 400 naming the field (``document.states``); nothing is saved.
- The flow takes the URL's id. It is saved as the draft exactly as ``PUT /api/flows/{flowId}`` saves
  one (etag, ``If-Match`` conflicts are 409), so an import is never published by itself.
- ``strict``: any warning of the import is a 422 ``import_warnings`` listing them all; nothing is saved.
  A flow the validator refuses (which the importer does not produce) is a 422 ``flow_invalid``.
- ``departments`` (the tenant's department ids, when the caller knows them) are what queue names are
  matched against; a queue mapped to a department that does not exist is a warning, not an error.
- The answer: ``{"flowId", "etag", "flow", "report", "warnings"}`` (``warnings``: the validator's, as
  ``PUT`` answers them; ``report``: the importer's, widget by widget).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from common.adapters.ports import Tenant
from common.core import studio
from common.service import ids
from common.service.admin import AdminService, ApiError, _Body, parse

#: Studio's own limit: 2,000 widgets in a flow, subflows included
MAX_WIDGETS = 2_000
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
DepartmentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,48}$")]


class StudioImportRequest(_Body):
    format: Literal["studio"]
    document: dict[str, Any]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    strict: bool = False
    #: queue name or workflow SID -> department id
    department_map: dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], DepartmentId] = Field(
        default_factory=dict, max_length=200)
    #: ``${NAME}`` -> value
    placeholders: dict[Name, Annotated[str, StringConstraints(max_length=2048)]] = Field(default_factory=dict,
                                                                                          max_length=200)
    #: subflow SID -> its export
    subflows: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], dict[str, Any]] = Field(
        default_factory=dict, max_length=20)


class StudioImportResponse(_Body):
    flow_id: str
    etag: str
    flow: dict[str, Any]
    report: dict[str, Any]
    warnings: list[dict[str, Any]]


def _widgets(document: Any) -> int:
    inner = document.get("definition", document) if isinstance(document, dict) else None
    states = inner.get("states") if isinstance(inner, dict) else None
    return len(states) if isinstance(states, list) else 0


def import_studio(admin: AdminService, tenant: Tenant, flow_id: str, body: Any, author: str = "",
                  departments: Collection[str] | None = None,
                  if_match: str | list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    if not re.fullmatch(ids.FLOW_ID, flow_id):
        raise ApiError(400, "invalid_request", f"flowId {flow_id[:80]!r}: use 1-64 letters, digits, '_' or '-'",
                       [{"field": "flowId", "message": "not a flow id"}])  # fmt: skip
    request: StudioImportRequest = parse(StudioImportRequest, body)
    count = _widgets(request.document) + sum(_widgets(d) for d in request.subflows.values())
    if count > MAX_WIDGETS:
        raise ApiError(400, "invalid_request", f"document: the flow and its subflows have {count} widgets; Studio "
                       f"and this import take at most {MAX_WIDGETS}", [{"field": "document.states",
                                                                        "message": "too many widgets"}])  # fmt: skip
    options = studio.ImportOptions(flow_id=flow_id, name=request.name, departments=departments,
                                   department_map=request.department_map, placeholders=request.placeholders,
                                   subflows=request.subflows)  # fmt: skip
    try:
        result = studio.import_studio(request.document, options)
    except studio.FlowTooLarge as exc:
        raise ApiError(400, "too_large", f"document.states: {exc}", [{"field": "document.states",
                                                                      "message": str(exc)}]) from exc  # fmt: skip
    except studio.StudioImportError as exc:
        field = ".".join(p for p in ("document", exc.field) if p)
        raise ApiError(400, "not_studio", f"{field}: {exc}", [{"field": field, "message": str(exc)}]) from exc
    if not result.ok:
        raise ApiError(422, "flow_invalid", "the imported flow does not validate; nothing was saved",
                       {"report": result.report})  # fmt: skip
    if request.strict and result.report["warnings"]:
        found = result.report["warnings"]
        raise ApiError(422, "import_warnings", f"strict import: {len(found)} warning(s), the first: "
                       f"{found[0]['widget']}: {found[0]['message']}; nothing was saved",
                       {"warnings": found, "report": result.report})  # fmt: skip
    saved = admin.put_flow(tenant, flow_id, result.flow, if_match, author)
    return {"flowId": flow_id, "etag": saved["etag"], "flow": result.flow, "report": result.report,
            "warnings": saved["warnings"]}  # fmt: skip
