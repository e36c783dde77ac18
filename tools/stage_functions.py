"""Stage one deployable bundle per Cloud Function.

    python tools/stage_functions.py build [--out build]

For each functions/<name>/: build/<name>/ holds its main.py, its requirements.txt (exact pins) and a
copy of common/ (functions-framework only puts the folder holding main.py on sys.path, so every
bundle carries its own copy), plus build/<name>.zip with entries in a fixed order and fixed
timestamps, so the zip's hash changes only when its content does and Terraform redeploys only the
functions that changed. Prints one line per bundle: name, files, bytes, sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
SKIP = {"__pycache__", ".mypy_cache", ".pytest_cache"}


def function_names() -> list[str]:
    return sorted(p.name for p in FUNCTIONS.iterdir() if (p / "main.py").is_file())


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=lambda _d, names: [n for n in names if n in SKIP or n.endswith(".pyc")])


def stage(name: str, out: Path) -> tuple[Path, Path]:
    source = FUNCTIONS / name
    target = out / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for item in ("main.py", "requirements.txt"):
        shutil.copy2(source / item, target / item)
    _copy_tree(ROOT / "common", target / "common")
    examples = ROOT / "examples"
    if examples.is_dir():  # the demo seed and CLI read them; small and harmless in a bundle
        _copy_tree(examples, target / "examples")
    archive = out / f"{name}.zip"
    files = sorted(p for p in target.rglob("*") if p.is_file())
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in files:
            info = zipfile.ZipInfo(str(path.relative_to(target)), FIXED_TIME)
            info.external_attr = 0o644 << 16
            bundle.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return target, archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--out", default=str(ROOT / "build"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in function_names():
        target, archive = stage(name, out)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        count = sum(1 for p in target.rglob("*") if p.is_file())
        print(f"{name:18} {count:4} files {archive.stat().st_size:9} bytes  sha256 {digest[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
