"""Each package declares exactly the third-party packages its source imports (an AST scan that counts imports
inside functions too), and installs alone, from its wheel, into a fresh virtual environment in which every one
of its modules imports (slow: pip installs each package's dependencies)."""

import ast
import fcntl
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.name for p in (ROOT / "packages").glob("aether-*"))
# The CPU build on this machine's disk; a plain `torch` would make pip fetch a CUDA build of several GB.
TORCH = "torch==2.13.0"
# Distributions whose top-level module is not their name with "-" as "_".
IMPORT_NAMES = {"opencv-python-headless": "cv2", "pyyaml": "yaml", "pillow": "PIL"}
# Declared, never imported by our code: another dependency loads them at run time.
RUNTIME_ONLY = {
    "accelerate": "diffusers' from_pretrained loads weights with it",
    "imageio-ffmpeg": "imageio's FFMPEG format",
    "sentencepiece": "transformers' T5Tokenizer",
}
TEST_EXTRA = "test"  # test tools: only the test helpers (aether.*.testing) may import them, none must


def _distribution(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower().replace("_", "-")


def _module(distribution: str) -> str:
    """The top-level module ``distribution`` provides (``aether.core`` for the namespace part ``aether-core``)."""
    if distribution.startswith("aether-"):
        return "aether." + distribution.removeprefix("aether-")
    return IMPORT_NAMES.get(distribution, distribution.replace("-", "_"))


def _declared(package: str, test_extra: bool) -> dict[str, str]:
    """``{module: where it is declared}`` over ``dependencies`` and the extras (``test`` when ``test_extra``)."""
    project = tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())["project"]
    found = {_module(_distribution(r)): "dependencies" for r in project.get("dependencies", [])}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        if extra != TEST_EXTRA or test_extra:
            found.update({_module(_distribution(r)): f"[{extra}]" for r in requirements
                          if _module(_distribution(r)) not in found})
    found.pop(_module(package), None)  # an extra that names the package itself
    return found


def _imports(package: str) -> dict[str, set[str]]:
    """``{module: files}`` of every third-party or sibling module the source of ``package`` imports."""
    src = ROOT / "packages" / package / "src"
    found: dict[str, set[str]] = {}
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                parts = name.split(".")
                module = ".".join(parts[:2]) if parts[0] == "aether" else parts[0]
                if module not in sys.stdlib_module_names and module != _module(package):
                    found.setdefault(module, set()).add(str(path.relative_to(src)))
    return found


def _siblings(package: str) -> list[str]:
    """``package`` and the aether packages it needs, directly or through another, as declared."""
    needed, todo = set(), [package]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += [f"aether-{m.removeprefix('aether.')}" for m, where in _declared(name, False).items()
                     if m.startswith("aether.") and where == "dependencies"]
    return sorted(needed)


def test_the_scan_sees_imports_inside_functions():
    assert "aether/core/model_commands.py" in _imports("aether-core")["transformers"]  # inside a function
    assert _siblings("aether-annotate") == ["aether-annotate", "aether-codecs", "aether-core"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_import_is_declared(package):
    declared, for_tests = _declared(package, test_extra=False), _declared(package, test_extra=True)
    undeclared = {}
    for module, files in _imports(package).items():
        files = [f for f in files if module not in (for_tests if "/testing/" in f else declared)]
        if files:
            undeclared[module] = sorted(files)
    assert not undeclared, (f"{package} imports modules its pyproject.toml does not declare: {undeclared}; add "
                            "their distributions to dependencies, or to an extra when the feature is optional")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_dependency_is_imported(package):
    imported = _imports(package)
    runtime_only = {_module(d) for d in RUNTIME_ONLY}
    unused = {module: where for module, where in _declared(package, test_extra=False).items()
              if module not in imported and module not in runtime_only}
    assert not unused, (f"{package} declares packages its source never imports: {unused}; drop them, or list "
                        "one that another dependency loads at run time in RUNTIME_ONLY with the reason")


# Imports every module of the package; a module may fail only for a missing module that an extra provides.
IMPORT_ALL = """
import importlib, pkgutil, sys
package, optional, problems = sys.argv[1], set(sys.argv[2:]), {}
def failed(name):
    exc = sys.exc_info()[1]
    if not (isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in optional):
        problems[name] = repr(exc)
for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + ".", onerror=failed):
    try:
        importlib.import_module(info.name)
    except Exception:
        failed(info.name)
print("\\n".join(f"{name}: {problem}" for name, problem in problems.items()))
sys.exit(bool(problems))
"""


def _pip(*args: str, python: Path | None = None) -> subprocess.CompletedProcess:
    target = ["--python", str(python)] if python else []
    return subprocess.run([sys.executable, "-m", "pip", *target, *args, "--disable-pip-version-check", "-q"],
                          capture_output=True, text=True)


def _install(*args: str, python: Path | None = None) -> subprocess.CompletedProcess:
    # Python compiles the modules the imports need; pip would compile every file of every dependency.
    return _pip("install", "--no-compile", *args, python=python)


def _check(out: subprocess.CompletedProcess, what: str) -> None:
    assert out.returncode == 0, f"{what} failed:\n{out.stdout}\n{out.stderr}"


def _build(tmp: Path) -> tuple[Path, Path]:
    """Each package's wheel, and a folder holding aether-core with its dependencies (torch among them), which
    every package needs: each fresh environment reaches it through a ``.pth`` file instead of installing the
    same gigabyte five times."""
    wheel_dir, core = tmp / "wheels", tmp / "aether-core-site"
    if (tmp / "done").exists():
        return wheel_dir, core
    probe = _pip("download", "--no-deps", "--dest", str(tmp / "probe"), "pluggy")
    if probe.returncode:
        pytest.skip("pip cannot reach a package index: " + (probe.stderr.strip().splitlines() or ["?"])[-1])
    _check(_pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheel_dir),
                *(str(ROOT / "packages" / p) for p in PACKAGES)), "building the wheels")
    _check(_install("--target", str(core), TORCH, *map(str, wheel_dir.glob("aether_core-*.whl"))),
           "installing aether-core")
    (tmp / "done").touch()
    return wheel_dir, core


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> tuple[Path, Path]:
    """:func:`_build` once per run: pytest-xdist's workers share it (their common parent folder is this run's)."""
    base = tmp_path_factory.getbasetemp()
    tmp = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "package-installs"
    tmp.mkdir(exist_ok=True)
    with open(tmp / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(tmp)


@pytest.mark.slow
@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_installs_alone_and_imports(package, wheels, tmp_path):
    wheel_dir, core = wheels
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "aether_core_site.pth").write_text(f"{core}\n")
    # The siblings by their wheels: "aether-core" on PyPI is another project, which pip would take instead.
    local = [str(next(wheel_dir.glob(f"{name.replace('-', '_')}-*.whl"))) for name in _siblings(package)]
    _check(_install(TORCH, *local, python=python), f"pip install {package}")
    optional = {m for m, where in _declared(package, test_extra=True).items() if where != "dependencies"}
    out = subprocess.run([python, "-c", IMPORT_ALL, _module(package), *sorted(optional)],
                         capture_output=True, text=True)
    assert out.returncode == 0, f"modules of {package} that do not import:\n{out.stdout}{out.stderr}"
