"""The wheel a user installs: built from the project's files, installed into a fresh virtual environment and
used from outside the checkout, it is the distribution `npnet-text` (the name "npnet" on PyPI is another
project's), imports as `npnet` from the environment, ships `py.typed` and puts a working `npnet` command on
the PATH. Offline: the build uses the installed setuptools (no build isolation) and the install no index."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DISTRIBUTION = "npnet-text"
# What a wheel is built from: the package and the files pyproject.toml names (readme, license).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "npnet")


def _run(*argv: str | Path, cwd: Path) -> str:
    """Run a command outside the checkout with no PYTHONPATH (nothing may come from the checkout); its stdout,
    or a failure showing its output."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _setuptools_builds_wheels() -> bool:
    """setuptools >= 70.1 builds wheels by itself; older ones need the `wheel` package beside them."""
    try:
        import setuptools
    except ImportError:
        return False
    try:
        import wheel  # noqa: F401
    except ImportError:
        major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
        return (major, minor) >= (70, 1)
    return True


@pytest.fixture(scope="module")
def wheel_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not _setuptools_builds_wheels():
        message = "building the wheel offline needs setuptools>=70.1 (the dev extra: pip install -e '.[dev]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # Built from a copy: a build in the checkout would leave build/ and *.egg-info there.
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-q",
        "-w",
        dist,
        source,
        cwd=dist,
    )
    (wheel,) = dist.glob("*.whl")
    return wheel


@pytest.mark.slow
def test_the_wheel_is_npnet_text_with_every_module_and_its_type_hints(wheel_file: Path):
    assert wheel_file.name.startswith("npnet_text-")
    names = zipfile.ZipFile(wheel_file).namelist()
    assert "npnet/py.typed" in names
    modules = {path.relative_to(REPO).as_posix() for path in (REPO / "npnet").rglob("*.py")}
    assert modules - set(names) == set()  # every subpackage found and shipped
    assert not [name for name in names if name.startswith(("tests/", "benchmarks/", "examples/"))]


@pytest.mark.slow
def test_the_installed_wheel_imports_and_runs_from_anywhere(wheel_file: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    # The dependencies (NumPy, pandas, ...) come from this test's own environment, so nothing is downloaded
    # (--no-deps): its site-packages folders go on the new environment's path after the venv's own. A folder
    # named in a .pth file is not scanned for .pth files, so an editable install of the checkout stays out.
    (site_packages,) = venv.glob("lib/python*/site-packages")
    outer = [path for path in sys.path if path.endswith("site-packages")]
    (site_packages / "outer_environment.pth").write_text("\n".join(outer) + "\n")
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        wheel_file,
        cwd=tmp_path,
    )

    probe = textwrap.dedent(
        f"""
        import importlib.metadata as metadata
        from pathlib import Path
        import npnet
        assert Path(npnet.__file__).is_relative_to({str(venv)!r}), npnet.__file__
        assert metadata.version({DISTRIBUTION!r}) == npnet.__version__
        assert {DISTRIBUTION!r} in metadata.packages_distributions()["npnet"]
        assert (Path(npnet.__file__).parent / "py.typed").is_file()
        print("ok")
        """
    )
    assert _run(python, "-c", probe, cwd=tmp_path).strip() == "ok"

    command = venv / "bin" / "npnet"
    assert command.is_file()
    help_text = _run(command, "--help", cwd=tmp_path)
    assert help_text.startswith("usage: npnet") and "train" in help_text
    assert (
        _run(command, "--version", cwd=tmp_path)
        .strip()
        .endswith(_run(python, "-c", "import npnet; print(npnet.__version__)", cwd=tmp_path).strip())
    )
