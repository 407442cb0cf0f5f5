"""The hash-pinned locks say what pyproject.toml declares: `make lock` rewrites them."""

import pathlib
import re
import tomllib
from collections.abc import Iterable
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from devstack.template import read_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEV_LOCK = ROOT / "requirements/dev.txt"
LAYER_LOCK = ROOT / "layers/messaging/requirements.txt"
GROUP_LOCKS = {group: ROOT / f"requirements/{group}.txt" for group in PYPROJECT["dependency-groups"]}
STALE = "is stale: run `make lock` (and `make install`) and commit the locks"

# One pinned release and the hashes of its files, after uv's backslash continuations are joined.
PIN = re.compile(r"(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)(?:\s+--hash=sha256:[0-9a-f]{64})+")


def read_lock(path: pathlib.Path) -> dict[NormalizedName, str]:
    pins: dict[NormalizedName, str] = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        entry = line.partition("#")[0].strip()
        if not entry:
            continue
        match = PIN.fullmatch(entry)
        assert match, f"{path.relative_to(ROOT)}: not pinned with == and --hash: {entry[:80]}"
        pins[canonicalize_name(match["name"])] = match["version"]
    assert pins, f"{path.relative_to(ROOT)} pins nothing"
    return pins


def requirements(specs: Iterable[str]) -> list[Requirement]:
    return [r for r in map(Requirement, specs) if r.marker is None or r.marker.evaluate()]


def project_dependencies() -> list[Requirement]:
    return requirements(PYPROJECT["project"]["dependencies"])


LAMBDA_PROVIDES = frozenset(
    map(canonicalize_name, PYPROJECT["tool"]["sinch-gateway"]["lambda-runtime-provides"])
)


def layer_dependencies() -> list[Requirement]:
    return [r for r in project_dependencies() if canonicalize_name(r.name) not in LAMBDA_PROVIDES]


def dev_dependencies() -> list[Requirement]:
    return [
        *project_dependencies(),
        *requirements(PYPROJECT["project"]["optional-dependencies"]["dev"]),
        *requirements(PYPROJECT["build-system"]["requires"]),
    ]


def closure(
    roots: list[Requirement], provided: frozenset[NormalizedName] = frozenset()
) -> set[NormalizedName]:
    """Every distribution the roots need on this Python and platform, from the installed metadata,
    but those `provided` and what only they need."""
    found: set[NormalizedName] = set()
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    pending = list(roots)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in provided or (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        found.add(name)
        try:
            needs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} is not installed: the venv {STALE}")
        for dependency in map(Requirement, needs):
            extras = ("", *requirement.extras)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras):
                pending.append(dependency)
    return found


def assert_satisfied(declared: list[Requirement], lock: pathlib.Path) -> None:
    pins = read_lock(lock)
    for requirement in declared:
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement} is not in {lock.relative_to(ROOT)}, which {STALE}"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.relative_to(ROOT)} pins {requirement.name}=={version}, not {requirement}: it {STALE}"
        )


def assert_holds_exactly(lock: pathlib.Path, needed: set[NormalizedName]) -> None:
    pinned = set(read_lock(lock))
    assert (sorted(needed - pinned), sorted(pinned - needed)) == ([], []), (
        f"(missing, not needed): {lock.relative_to(ROOT)} {STALE}"
    )


@pytest.mark.parametrize("lock", [DEV_LOCK, LAYER_LOCK, *GROUP_LOCKS.values()], ids=lambda p: p.name)
def test_every_lock_pins_every_package_to_one_release_with_its_hashes(lock: pathlib.Path) -> None:
    read_lock(lock)


def test_the_dev_lock_holds_what_pyproject_declares_and_nothing_else() -> None:
    assert_satisfied(dev_dependencies(), DEV_LOCK)
    assert_holds_exactly(DEV_LOCK, closure(dev_dependencies()))


def test_the_layer_lock_holds_the_runtime_dependencies_but_what_lambda_provides() -> None:
    assert_satisfied(layer_dependencies(), LAYER_LOCK)
    assert_holds_exactly(LAYER_LOCK, closure(layer_dependencies(), LAMBDA_PROVIDES))


def test_the_layer_leaves_out_what_the_lambda_runtime_provides() -> None:
    # aws-xray-sdk needs botocore: resolved without the exclusion, the layer grows from 38 MB to
    # 68 MB unpacked (sam build, measured), botocore's service models most of it.
    assert {"boto3", "botocore", "s3transfer"} <= LAMBDA_PROVIDES
    shipped = sorted(LAMBDA_PROVIDES & set(read_lock(LAYER_LOCK)))
    assert shipped == [], f"{LAYER_LOCK.relative_to(ROOT)} ships what Lambda provides: {shipped}"
    assert "--excludes" in (ROOT / "Makefile").read_text(), "`make lock` must exclude them from the layer"


def test_the_layer_ships_the_releases_the_tests_run_against() -> None:
    dev = read_lock(DEV_LOCK)
    layer = read_lock(LAYER_LOCK)
    differ = {name: (version, dev.get(name)) for name, version in layer.items() if dev.get(name) != version}
    assert not differ, f"(layer, dev) releases differ: {LAYER_LOCK.relative_to(ROOT)} {STALE}"


@pytest.mark.parametrize("group", sorted(GROUP_LOCKS))
def test_each_tool_lock_holds_its_dependency_group(group: str) -> None:
    assert_satisfied(requirements(PYPROJECT["dependency-groups"][group]), GROUP_LOCKS[group])


def test_the_locks_are_resolved_for_the_python_lambda_runs() -> None:
    template = read_template(ROOT / "template.yaml")
    resources = template["Resources"].values()
    [layer] = [r for r in resources if r["Properties"].get("ContentUri") == "layers/messaging/"]
    runtimes = {template["Globals"]["Function"]["Runtime"], *layer["Properties"]["CompatibleRuntimes"]}
    assert len(runtimes) == 1
    version = runtimes.pop().removeprefix("python")
    assert f"--python-version {version} " in (ROOT / "Makefile").read_text(), (
        f"Lambda runs Python {version}: resolve the locks for it in `make lock`"
    )
    assert f"--python-version {version} " in (ROOT / "layers/messaging/Makefile").read_text(), (
        f"Lambda runs Python {version}: the layer's build must install wheels for it"
    )


def test_sam_builds_the_layer_from_the_lock_as_written() -> None:
    """pip's resolver would add back what the lock leaves out (botocore, through aws-xray-sdk)."""
    template = read_template(ROOT / "template.yaml")
    [(logical_id, layer)] = [
        (name, r)
        for name, r in template["Resources"].items()
        if r["Properties"].get("ContentUri") == "layers/messaging/"
    ]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / "layers/messaging/Makefile").read_text()
    assert f"\nbuild-{logical_id}:\n" in makefile
    assert "--no-deps --require-hashes" in makefile
