"""The deployable bundles (tools/stage_functions.py): each loads on its own, like Cloud Functions
loads it, with nothing from the repository or the editable install; pins are exact; zips reproducible.

Each bundle is loaded in a fresh ``python -I`` subprocess whose sys.path holds only the standard
library and the venv's site-packages, with setuptools' editable-install finder for ``common`` removed
from sys.meta_path: functions-framework appends the bundle folder to sys.path (as in production), so
``common`` can only come from the bundle's own copy. The subprocess also answers one request per
function, which imports the lazy parts (bootstrap, services, twilio, pydantic) for real.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import stage_functions

ROOT = Path(__file__).resolve().parents[2]
NAMES = stage_functions.function_names()
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][0-9A-Za-z.+!-]*$")

LOADER = r"""
import json, os, sys
bundle, name, repo = sys.argv[1], sys.argv[2], sys.argv[3]
# no editable-install finder, no repository on the path: only stdlib + site-packages
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in repr(h).lower()]
sys.path_importer_cache.clear()
assert "common" not in sys.modules
venv = os.path.realpath(sys.prefix)
def foreign(p):  # the repository itself (the venv inside it is where the third-party deps live)
    real = os.path.realpath(p)
    return real == repo or (real.startswith(repo + os.sep) and not real.startswith(venv + os.sep))
sys.path[:] = [p for p in sys.path if p and not foreign(p)]
os.chdir(bundle)
for key in ("FIRESTORE_EMULATOR_HOST", "IVR_STORE"):
    os.environ.pop(key, None)
os.environ.update({"PUBLIC_BASE_URL": "https://ivr.example.test", "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
                   "TWILIO_AUTH_TOKEN": "bundle-token",
                   "IVR_TASKS_SERVICE_ACCOUNT": "tasks@ivr.iam.gserviceaccount.com"})
before = set(sys.modules)  # the interpreter's and .pth files' own imports (e.g. the google namespace)
import base64, hashlib, hmac
import functions_framework
app = functions_framework.create_app(name, os.path.join(bundle, "main.py"))
client = app.test_client()
base = "https://ivr.example.test"
def signed(path, params):
    text = base + path + "".join(k + params[k] for k in sorted(params))
    sig = base64.b64encode(hmac.new(b"bundle-token", text.encode(), hashlib.sha1).digest()).decode()
    r = client.post(path, data=params, headers={"X-Twilio-Signature": sig}, base_url=base)
    return r.status_code, r.get_data(as_text=True)
params = {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "a" * 32, "From": "+15005550006", "To": "+19998887777"}
answers = {}
if name == "incoming_call":
    answers["incoming"] = signed("/webhook/voice/incoming", params)
    answers["fallback"] = signed("/webhook/voice/fallback?dial=%2B15551234567", params)
elif name == "flow_step":
    answers["step"] = signed("/webhook/voice/step?seq=2", params)
elif name == "deploy_flow":
    r = client.get("/api/flows/support_line", base_url=base)
    answers["unauthenticated"] = (r.status_code, r.get_data(as_text=True))
    r = client.get("/api/flows/support_line", headers={"Authorization": "Bearer ivr_dev_demo_key_not_secret"},
                   base_url=base)
    answers["empty store"] = (r.status_code, r.get_data(as_text=True))
else:
    r = client.post("/api/departments/route", json={}, base_url=base)
    answers["route"] = (r.status_code, r.get_data(as_text=True))
    r = client.post("/api/departments/tasks/sweep", json={}, headers={"X-Ivr-Task-Secret": "wrong"}, base_url=base)
    answers["task secret"] = (r.status_code, r.get_data(as_text=True))
    r = client.post("/api/departments/tasks/sweep", json={}, headers={"Authorization": "Bearer x.y.z"}, base_url=base)
    answers["task token"] = (r.status_code, r.get_data(as_text=True))
    r = client.get("/api/departments/sales", base_url=base)
    answers["not served"] = (r.status_code, r.get_data(as_text=True))
    import google.auth.transport.requests, google.oauth2.id_token  # what verifying a task's OIDC token loads
import common
files = {m: getattr(mod, "__file__", None) for m, mod in list(sys.modules.items()) if m not in before}
print(json.dumps({"common": common.__file__, "path": sys.path, "answers": answers, "modules": files}))
"""


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles")
    for name in NAMES:
        stage_functions.stage(name, out)
    return out


def test_every_function_is_staged() -> None:
    assert set(NAMES) == {"deploy_flow", "flow_step", "incoming_call", "route_department"}


@pytest.mark.parametrize("name", NAMES)
def test_bundle_layout_and_exact_pins(staged: Path, name: str) -> None:
    bundle = staged / name
    assert (bundle / "main.py").is_file()
    assert (bundle / "common" / "__init__.py").is_file()
    assert (bundle / "common" / "web" / "voice.py").is_file()
    assert not list(bundle.rglob("__pycache__")) and not list(bundle.rglob("*.pyc"))
    pins = [line.strip() for line in (bundle / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]  # fmt: skip
    assert pins, "requirements.txt pins nothing"
    for line in pins:
        assert PIN.fullmatch(line), f"{name}/requirements.txt: {line!r} is not an exact == pin"
    constraints = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            project, version = line.strip().split("==")
            constraints[_canonical(project)] = version
    for line in pins:
        project, version = line.split("==")
        assert constraints.get(_canonical(project)) == version, f"{line} disagrees with constraints.txt"
    zipped = staged / f"{name}.zip"
    import zipfile

    with zipfile.ZipFile(zipped) as archive:
        names = archive.namelist()
    assert "main.py" in names and "requirements.txt" in names and "common/__init__.py" in names
    assert names == sorted(names)


def _canonical(project: str) -> str:
    return re.sub(r"[-_.]+", "-", project).lower()


def _load_isolated(bundle: Path, name: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-I", "-c", LOADER, str(bundle), name, str(ROOT)],
                          capture_output=True, text=True, timeout=120, cwd=bundle)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def loaded(staged: Path) -> dict[str, dict[str, Any]]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(NAMES)) as pool:
        results = list(pool.map(lambda n: _load_isolated(staged / n, n), NAMES))
    return dict(zip(NAMES, results, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_bundle_loads_alone_with_its_own_common(staged: Path, loaded: dict[str, dict[str, Any]], name: str) -> None:
    result = loaded[name]
    bundle = str((staged / name).resolve())
    assert Path(result["common"]).resolve().is_relative_to(bundle), result["common"]
    assert not any(Path(p).resolve() == ROOT for p in result["path"] if p)
    for module, file in result["modules"].items():
        if file and (module == "common" or module.startswith("common.")):
            assert Path(file).resolve().is_relative_to(bundle), f"{module} came from {file}"
        if file:
            assert not Path(file).resolve().is_relative_to(ROOT / "common"), f"{module} came from the repo"


def test_bundles_answer_requests(loaded: dict[str, dict[str, Any]]) -> None:
    incoming = loaded["incoming_call"]["answers"]
    assert incoming["incoming"][0] == 200 and "not in service" in incoming["incoming"][1]
    assert incoming["fallback"][0] == 200 and "+15551234567</Dial>" in incoming["fallback"][1]
    step = loaded["flow_step"]["answers"]["step"]
    assert step[0] == 200 and "<Hangup />" in step[1]
    api = loaded["deploy_flow"]["answers"]
    assert api["unauthenticated"][0] == 401
    assert api["empty store"][0] == 401  # a fresh in-memory store knows no keys
    routed = loaded["route_department"]["answers"]
    assert routed["route"][0] == 401  # a fresh in-memory store knows no keys
    assert routed["task secret"][0] == 401 and "X-Ivr-Task-Secret does not match" in routed["task secret"][1]
    assert routed["task token"][0] == 401 and "not a Google-signed OIDC token" in routed["task token"][1]
    assert routed["not served"][0] == 405  # the rest of /api/departments is the admin API's


@pytest.mark.parametrize("name", NAMES)
def test_requirements_cover_every_third_party_import(loaded: dict[str, dict[str, Any]], staged: Path,
                                                      name: str) -> None:  # fmt: skip
    """Every distribution the bundle imported is pinned in its requirements.txt or required by a pin."""

    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    owners = _file_owners()
    imported = set()
    for module, file in loaded[name]["modules"].items():
        if file and Path(file).resolve().is_relative_to(site):
            owner = owners.get(str(Path(file).resolve()))
            assert owner is not None, f"{module} ({file}) belongs to no installed distribution"
            imported.add(owner)
    pins = [line.split("==")[0] for line in (staged / name / "requirements.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")]  # fmt: skip
    closure = _closure(pins)
    missing = sorted(imported - closure - {"pip", "setuptools"})
    assert not missing, f"{name} imports {missing} but its requirements.txt does not bring them in"


@functools.cache
def _file_owners() -> dict[str, str]:
    """Installed file (resolved path) -> the distribution that installed it (from its RECORD)."""
    from importlib import metadata

    owners = {}
    for dist in metadata.distributions():
        for file in dist.files or []:
            owners[str(Path(dist.locate_file(file)).resolve())] = _canonical(dist.metadata["Name"])
    return owners


def _closure(projects: list[str]) -> set[str]:
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [(_canonical(p), frozenset()) for p in projects]
    while todo:
        project, extras = todo.pop()
        if project in seen:
            continue
        seen.add(project)
        try:
            requires = metadata.requires(project) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras or {""}):
                todo.append((_canonical(requirement.name), frozenset(requirement.extras)))
    return seen


def test_zips_are_byte_reproducible(tmp_path: Path) -> None:
    digests = []
    for attempt in ("first", "second"):
        out = tmp_path / attempt
        out.mkdir()
        digests.append({name: hashlib.sha256(stage_functions.stage(name, out)[1].read_bytes()).hexdigest()
                        for name in NAMES})  # fmt: skip
    assert digests[0] == digests[1]
    assert len(set(digests[0].values())) == len(NAMES)  # and each bundle is its own


def test_stage_cli_prints_one_line_per_bundle(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "stage_functions.py"), "build", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == NAMES
    for name, line in zip(NAMES, lines, strict=True):
        digest = hashlib.sha256((tmp_path / f"{name}.zip").read_bytes()).hexdigest()
        assert line.endswith(digest[:16])
