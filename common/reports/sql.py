"""The report views' SQL: the files Terraform deploys to BigQuery, made runnable on DuckDB.

Rules owned here:
- The views are the ``*.sql`` files of ``terraform/modules/platform/sql`` (BigQuery Standard SQL), one
  view per file, named by the file. Nothing else defines a report: the local reports, the console's
  JSON and the tests all run these files, so what is tested is what is deployed.
- A file names the tables and views it reads as `${project}.${dataset}.NAME` (Terraform's
  ``templatefile`` fills in the module's project and dataset). Here the prefix is dropped, so the same
  name is the DuckDB table or view of that name.
- sqlglot transpiles BigQuery to DuckDB. A construct it gets wrong is avoided in the files, not patched
  here (``DIV(a, b)`` loses its parentheses, ``NUMERIC`` becomes a DECIMAL with 3 decimals), and the
  tests run every file, so such a change shows up as a failing number.
- Views are created in dependency order (a view after the views it reads); a reference to a name that
  is neither a view file nor ``call_events`` is an error, as it would be in BigQuery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "platform" / "sql"
TABLE = "call_events"
_REFERENCE = re.compile(r"`\$\{project\}\.\$\{dataset\}\.(\w+)`")


class ViewError(Exception):
    """A view file that cannot be used: unknown reference, dependency cycle, SQL sqlglot rejects."""


@dataclass(frozen=True)
class View:
    name: str
    bigquery: str  # the file's text, as Terraform deploys it (before templatefile)
    reads: tuple[str, ...]  # tables and views it names

    def duckdb(self) -> str:
        return _duckdb(self.name, self.bigquery)


@cache
def _duckdb(name: str, text: str) -> str:
    import sqlglot  # about 1 s to import: only when a report runs, never when the admin API starts

    plain = _REFERENCE.sub(lambda m: m.group(1), text)
    try:
        statements = sqlglot.transpile(plain, read="bigquery", write="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise ViewError(f"{name}.sql: sqlglot cannot read it as BigQuery SQL: {exc}") from exc
    if len(statements) != 1:
        raise ViewError(f"{name}.sql: a view file holds one query, found {len(statements)} statements")
    return statements[0]


def load(directory: Path = SQL_DIR) -> list[View]:
    """Every view file, ordered so that each view comes after the views it reads."""
    files = sorted(directory.glob("*.sql"))
    if not files:
        raise ViewError(f"no view files in {directory}")
    views = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        views[path.stem] = View(path.stem, text, tuple(dict.fromkeys(_REFERENCE.findall(text))))
    for view in views.values():
        for name in view.reads:
            if name != TABLE and name not in views:
                raise ViewError(f"{view.name}.sql reads `{name}`, which is neither {TABLE} nor a view file")
    ordered: list[View] = []
    placed: set[str] = {TABLE}
    while len(ordered) < len(views):
        ready = [v for v in views.values() if v.name not in placed and set(v.reads) <= placed]
        if not ready:
            stuck = sorted(set(views) - placed)
            raise ViewError(f"the views {', '.join(stuck)} read each other in a cycle")
        ordered.extend(ready)
        placed.update(v.name for v in ready)
    return ordered


def layers(views: list[View]) -> list[list[str]]:
    """View names by depth: layer 0 reads only the table, layer n reads views of layers below n."""
    depth: dict[str, int] = {TABLE: -1}
    for view in views:  # ordered: every view read is already placed
        depth[view.name] = 1 + max((depth[name] for name in view.reads), default=-1)
    out: list[list[str]] = [[] for _ in range(1 + max(depth.values()))]
    for view in views:
        out[depth[view.name]].append(view.name)
    return out


def create_views(connection: object, views: list[View] | None = None, temporary: bool = True) -> None:
    """Create every view on a DuckDB connection whose ``call_events`` table (or view) exists."""
    for view in views if views is not None else load():
        kind = "TEMPORARY VIEW" if temporary else "VIEW"
        connection.execute(f'CREATE OR REPLACE {kind} "{view.name}" AS {view.duckdb()}')  # type: ignore[attr-defined]
