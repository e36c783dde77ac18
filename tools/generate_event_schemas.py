"""Write the files generated from common/core/events.py (the event schema's one source of truth).

    python tools/generate_event_schemas.py           rewrite the files that differ
    python tools/generate_event_schemas.py --check   exit 1, naming them, when any is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.core.events import generated_files  # noqa: E402


def stale() -> list[str]:
    return [name for name, text in generated_files().items()
            if not (ROOT / name).is_file() or (ROOT / name).read_text(encoding="utf-8") != text]  # fmt: skip


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = stale()
        for name in found:
            print(f"{name} is stale: run python tools/generate_event_schemas.py", file=sys.stderr)
        return 1 if found else 0
    for name, text in generated_files().items():
        path = ROOT / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
