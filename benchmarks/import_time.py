"""Cold-start cost of each staged Cloud Function bundle.

    python benchmarks/import_time.py [--runs 3]

Stages every bundle (tools/stage_functions.py) into a temporary folder and, for each, runs a fresh
``python -I`` process that sees only the bundle and the venv's third-party packages (the editable
install of ``common`` is hidden, as in tests/functions/test_packaging.py). It prints, per function:

    import   functions_framework.create_app(name, main.py): what the runtime does before serving
    first    the first request (a signed webhook or an API call): the lazy imports and the container
             (on the embedded store)
    +fs      what the first request adds in production: importing google.cloud.firestore
    process  the whole interpreter, start to exit

Medians over ``--runs`` fresh processes; the bundle's own modules are compiled every time (``-B``, as
on a cold instance), third-party packages use the venv's bytecode. Then, from one ``-X importtime``
run per bundle, the top-level imports that cost the most (cumulative).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import stage_functions  # noqa: E402

PROBE = r"""
import os, sys, time
began = time.perf_counter()
bundle, name, repo = sys.argv[1], sys.argv[2], sys.argv[3]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.dont_write_bytecode = True
os.environ.update({"PUBLIC_BASE_URL": "https://ivr.example.test", "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
                   "TWILIO_AUTH_TOKEN": "t"})
os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
import functions_framework
app = functions_framework.create_app(name, os.path.join(bundle, "main.py"))
imported = time.perf_counter()
client = app.test_client()
if name in ("incoming_call", "flow_step"):
    import base64, hashlib, hmac
    path = "/webhook/voice/incoming" if name == "incoming_call" else "/webhook/voice/step?seq=2"
    params = {"CallSid": "CA1", "AccountSid": "AC" + "a" * 32, "To": "+15550000000", "From": "+15550000001"}
    text = "https://ivr.example.test" + path + "".join(k + params[k] for k in sorted(params))
    sig = base64.b64encode(hmac.new(b"t", text.encode(), hashlib.sha1).digest()).decode()
    status = client.post(path, data=params, headers={"X-Twilio-Signature": sig}).status_code
elif name == "deploy_flow":
    status = client.get("/api/flows/x", headers={"Authorization": "Bearer nope"}).status_code
else:
    status = client.post("/api/departments/route", json={}).status_code
served = time.perf_counter()
firestore = 0.0
if name != "route_department":  # in production the first request also builds the Firestore client
    import google.cloud.firestore
    firestore = time.perf_counter() - served
common = sys.modules.get("common")
print(__import__("json").dumps({"import": imported - began, "first": served - imported, "status": status,
                                "firestore": firestore, "common": getattr(common, "__file__", None)}))
"""


def probe(bundle: Path, name: str) -> dict[str, float]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-I", "-B", "-c", PROBE, str(bundle), name, str(ROOT)],
                          capture_output=True, text=True, timeout=120, cwd=bundle)  # fmt: skip
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{name}: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["common"] is not None and not result["common"].startswith(str(bundle)):
        raise SystemExit(f"{name} imported common from {result['common']}, not from its bundle")
    return {
        "import": result["import"],
        "first": result["first"],
        "firestore": result["firestore"],
        "process": wall,
        "status": result["status"],
    }


def heaviest(bundle: Path, name: str, top: int) -> list[tuple[str, float]]:
    done = subprocess.run([sys.executable, "-I", "-B", "-X", "importtime", "-c", PROBE, str(bundle), name, str(ROOT)],
                          capture_output=True, text=True, timeout=120, cwd=bundle)  # fmt: skip
    found: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, module = line.split("|", 2)
        if module.startswith("  ") or module.strip().startswith("_"):
            continue  # nested, or an interpreter internal
        found[module.strip()] = found.get(module.strip(), 0.0) + int(cumulative) / 1000
    return sorted(found.items(), key=lambda item: -item[1])[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cold-start cost of each function bundle")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=5, help="heaviest top-level imports to list per bundle")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        header = f"{'function':18} {'import':>10} {'first':>10} {'+fs':>10} {'process':>10}"
        print(f"{header}   (median of {args.runs} fresh processes)")
        for name in stage_functions.function_names():
            bundle, _ = stage_functions.stage(name, out)
            runs = [probe(bundle.resolve(), name) for _ in range(args.runs)]
            keys = ("import", "first", "firestore", "process")
            med = {key: statistics.median(r[key] for r in runs) * 1000 for key in keys}
            print(f"{name:18} {med['import']:8.0f} ms {med['first']:8.0f} ms {med['firestore']:8.0f} ms "
                  f"{med['process']:8.0f} ms"
                  f"   first request -> HTTP {runs[0]['status']:.0f}")  # fmt: skip
            if args.top:
                costs = ", ".join(f"{module} {ms:.0f} ms" for module, ms in heaviest(bundle.resolve(), name, args.top))
                print(f"{'':18}   heaviest imports: {costs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
