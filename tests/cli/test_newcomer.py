"""A newcomer's first commands: `npnet train` gets missing data by itself (a local Stanford tarball, else
Keras's files, else Stanford's download, from a mirror on 127.0.0.1 here), the per-user data cache, a
silent `--verbose 0`, `npnet --version`, the LICENSE, and the data commands' help and exit codes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import npnet
from npnet.datasets import bootstrap, imdb
from npnet.datasets.files import NPZ_NAME, WORD_INDEX_NAME, default_data_dir, resolve_data_dir
from tests.training_helpers import SMALL, build_data, run_cli, write_reviews

REPO = Path(__file__).resolve().parents[2]
TRAIN = ["train", "--epochs", "1", *SMALL]


class _Files(BaseHTTPRequestHandler):
    """Serves `server.files` by name (any folder); 404 for anything else."""

    def do_GET(self) -> None:
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])  # type: ignore[attr-defined]
        self.server.requested.append(self.path)  # type: ignore[attr-defined]
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror():
    """A mirror folder on 127.0.0.1: `mirror.files` {name: bytes}, `mirror.url`, `mirror.requested`."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    httpd.daemon_threads = True
    httpd.files, httpd.requested = {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/imdb/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def outside(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine without ../shared beside the checkout, whose only network is a closed local port."""
    monkeypatch.setattr(bootstrap, "CHECKOUT_TARBALL", tmp_path / "no-shared" / "aclImdb_v1_labeled.tar.gz")
    closed = "http://127.0.0.1:9/"  # the discard port: nothing listens on it
    monkeypatch.setattr(imdb, "KERAS_ORIGINS", (closed, closed))
    monkeypatch.setattr(bootstrap, "STANFORD_URL", closed + "aclImdb_v1.tar.gz")


def _tarball(root: Path) -> Path:
    """A small aclImdb_v1.tar.gz of made-up reviews (training_helpers)."""
    source = write_reviews(root / "reviews")
    path = root / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(source, arcname="aclImdb")
    return path


def _publish(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes]) -> None:
    """Make `files` the ones Keras and Stanford publish (their digests), for this test."""
    for name in (NPZ_NAME, WORD_INDEX_NAME):
        if name in files:
            digest = {"md5": hashlib.md5(files[name]).hexdigest()}
            monkeypatch.setitem(imdb._PUBLISHED_DIGESTS, name, (digest, digest))
    if bootstrap.STANFORD_NAME in files:
        digest = {"md5": hashlib.md5(files[bootstrap.STANFORD_NAME]).hexdigest()}
        monkeypatch.setattr(bootstrap, "STANFORD_DIGESTS", digest)


# --- where data lives --------------------------------------------------------------------------------------
def test_data_lives_in_the_per_user_cache_unless_overridden(monkeypatch, tmp_path, _private_data_cache):
    assert resolve_data_dir() == default_data_dir() == _private_data_cache  # $XDG_CACHE_HOME/npnet/datasets
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_data_dir() == Path.home() / ".cache" / "npnet" / "datasets"
    monkeypatch.setenv("NPNET_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"  # --data-dir wins over both


def test_data_info_shows_the_cache_and_fails_when_files_are_missing(_private_data_cache):
    code, out, err = run_cli("data", "info")
    assert code == 1
    assert f"data directory: {_private_data_cache} (from the per-user cache under $XDG_CACHE_HOME" in out
    assert "imdb.npz: missing" in out
    assert "npnet data fetch" in err and "aclImdb_v1.tar.gz" in err and "npnet train" in err


@pytest.mark.slow
def test_data_info_succeeds_when_the_files_are_there(tmp_path):
    data_dir = build_data(tmp_path)
    code, out, _ = run_cli("data", "info", "--data-dir", data_dir)
    assert code == 0
    assert "(from --data-dir;" in out and "missing" not in out


def test_data_build_help_and_errors_name_every_way_to_get_the_data(tmp_path):
    code, out, _ = run_cli("data", "build", "--help")
    assert code == 0
    assert "npnet data fetch" in out and imdb.STANFORD_URL in out
    code, _, err = run_cli("data", "build", "--from", tmp_path / "absent.tar.gz", "--data-dir", tmp_path)
    assert code == 1
    assert "npnet data fetch" in err and "ai.stanford.edu" in err


@pytest.mark.slow
def test_data_build_shows_progress_without_carriage_returns_into_a_file(tmp_path):
    source = write_reviews(tmp_path / "reviews")
    code, out, err = run_cli("data", "build", "--from", source, "--data-dir", tmp_path / "data")
    assert code == 0, err
    assert "\r" not in err
    assert "reading reviews from" in err and "tokenizing and ranking words: 240 reviews in" in err
    assert "built " in out


# --- npnet train gets the data ------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_builds_from_a_local_tarball_offline(outside, monkeypatch, tmp_path, _private_data_cache):
    monkeypatch.setenv("NPNET_IMDB_TARBALL", str(_tarball(tmp_path)))
    # Named runs: the default name has a one-second timestamp, which two quick runs would share.
    runs_dir = tmp_path / "runs"
    code, out, err = run_cli(*TRAIN, "--runs-dir", runs_dir, "--run-name", "first", "--verbose", "2")
    assert code == 0, err
    assert "building them offline from the Stanford reviews" in out
    assert (_private_data_cache / NPZ_NAME).is_file()
    code, out, err = run_cli(*TRAIN, "--runs-dir", runs_dir, "--run-name", "second", "--verbose", "2")
    assert code == 0, err
    assert "data:" not in out  # the second run reads the cache


@pytest.mark.slow
def test_train_on_the_project_machine_uses_the_shared_tarball(outside, monkeypatch, tmp_path):
    monkeypatch.setattr(bootstrap, "CHECKOUT_TARBALL", _tarball(tmp_path))
    assert bootstrap.local_tarball() == bootstrap.CHECKOUT_TARBALL
    code, out, err = run_cli(*TRAIN, "--runs-dir", tmp_path / "runs", "--data-dir", tmp_path / "d")
    assert code == 0, err
    assert f"at {bootstrap.CHECKOUT_TARBALL}" in out


def test_checkout_tarball_is_the_shared_folder_beside_the_repository():
    expected = REPO.parent / "shared" / "data" / "aclImdb_v1_labeled.tar.gz"
    assert expected == bootstrap.CHECKOUT_TARBALL


@pytest.mark.slow
def test_train_outside_fetches_keras_files_from_a_mirror(outside, mirror, monkeypatch, tmp_path):
    built = build_data(tmp_path / "published")
    mirror.files = {name: (built / name).read_bytes() for name in (NPZ_NAME, WORD_INDEX_NAME)}
    _publish(monkeypatch, mirror.files)
    monkeypatch.setenv("NPNET_DATA_URL", mirror.url)
    code, out, err = run_cli(*TRAIN, "--runs-dir", tmp_path / "runs")
    assert code == 0, err
    assert f"downloading imdb.npz from the mirror {mirror.url}" in out
    assert "downloading imdb.npz from" in err  # the progress display
    assert mirror.requested == ["/imdb/imdb.npz", "/imdb/imdb_word_index.json"]


@pytest.mark.slow
def test_train_falls_back_to_the_stanford_download(
    outside, mirror, monkeypatch, tmp_path, _private_data_cache
):
    mirror.files = {bootstrap.STANFORD_NAME: _tarball(tmp_path).read_bytes()}  # no imdb.npz on the mirror
    _publish(monkeypatch, mirror.files)
    code, out, err = run_cli(*TRAIN, "--runs-dir", tmp_path / "runs", "--url", mirror.url)
    assert code == 0, err
    assert "downloading the Stanford reviews from" in out
    assert (_private_data_cache / NPZ_NAME).is_file()
    assert not (_private_data_cache / bootstrap.STANFORD_NAME).exists()  # built, then dropped


def test_train_with_no_way_to_the_data_says_every_fix(outside, mirror, monkeypatch, tmp_path):
    code, _, err = run_cli(*TRAIN, "--runs-dir", tmp_path / "runs", "--url", mirror.url)
    assert code == 1
    assert err.startswith("npnet train: error: could not get the IMDB data.")
    fixes = (
        "npnet train --from aclImdb_v1.tar.gz",
        f"check that the mirror {mirror.url}",
        bootstrap.STANFORD_URL,
    )
    for fix in fixes:
        assert fix in err
    assert "--url URL" not in err  # who named a mirror is not told to use one
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


def test_a_mirror_of_built_files_is_told_to_use_them_as_a_folder(outside, mirror, tmp_path):
    """An outside user serves `npnet data build`'s files from a mirror: the error names the file and both
    hashes and says --data-dir, which then trains on a folder holding just those two files."""
    built = build_data(tmp_path / "built")
    mirror.files = {name: (built / name).read_bytes() for name in (NPZ_NAME, WORD_INDEX_NAME)}
    code, _, err = run_cli(*TRAIN, "--runs-dir", tmp_path / "runs", "--url", mirror.url)
    assert code == 1 and "Traceback" not in err
    got = hashlib.sha256(mirror.files[NPZ_NAME]).hexdigest()
    expected = imdb.published_digests(NPZ_NAME)["sha256"]
    assert f"could not download {NPZ_NAME}: {mirror.url}{NPZ_NAME}: hash mismatch: got sha256 {got}" in err
    assert f"expected sha256 {expected}" in err
    assert "put both in one folder and pass --data-dir FOLDER" in err and "--url URL" not in err

    folder = tmp_path / "folder"
    folder.mkdir()
    for name, body in mirror.files.items():
        (folder / name).write_bytes(body)
    requested = list(mirror.requested)
    code, out, err = run_cli(*TRAIN, "--runs-dir", tmp_path / "runs", "--data-dir", folder, "--run-name", "r")
    assert code == 0, err
    assert "Epoch 1/1" in out and (tmp_path / "runs" / "r" / "weights.npz").is_file()
    assert mirror.requested == requested  # read from the folder, nothing downloaded


def test_train_from_a_missing_path_is_refused_in_words(tmp_path):
    code, _, err = run_cli(*TRAIN, "--runs-dir", tmp_path / "runs", "--from", tmp_path / "nope.tar.gz")
    assert code == 1
    assert "--from names" in err and "does not exist" in err


@pytest.mark.slow
def test_verbose_0_prints_nothing(tmp_path):
    data_dir = build_data(tmp_path)
    code, out, err = run_cli(
        *TRAIN, "--data-dir", data_dir, "--runs-dir", tmp_path / "runs", "--verbose", "0"
    )
    assert code == 0
    assert (out, err) == ("", "")
    assert len(list((tmp_path / "runs").iterdir())) == 1  # it did train


# --- the CLI as people expect -------------------------------------------------------------------------------
def test_version():
    code, out, _ = run_cli("--version")
    assert (code, out) == (0, f"npnet {npnet.__version__}\n")


def test_license_file_matches_pyproject():
    assert 'license = { text = "MIT" }' in (REPO / "pyproject.toml").read_text()
    assert (REPO / "LICENSE").read_text().startswith("MIT License\n")


@pytest.mark.slow
def test_command_1_from_a_clean_clone_outside_this_machine(mirror, monkeypatch, tmp_path):
    """`npnet train` in a fresh clone with no ../shared beside it: the data comes from a mirror on 127.0.0.1
    (the network of the simulated machine), into a fresh per-user cache."""
    clone = tmp_path / "elsewhere" / "npnet"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True)
    built = build_data(tmp_path / "published")
    mirror.files = {name: (built / name).read_bytes() for name in (NPZ_NAME, WORD_INDEX_NAME)}
    env = {
        **os.environ,
        "PYTHONPATH": str(clone),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "NPNET_DATA_URL": mirror.url,
    }
    # The mirror's small files stand in for Keras's, so their digests become the published ones in the child.
    script = (
        "import hashlib, sys; from npnet.datasets import imdb; from npnet.cli import main\n"
        f"files = {{n: open(p, 'rb').read() for n, p in {[(n, str(built / n)) for n in mirror.files]!r}}}\n"
        "for n, b in files.items():\n"
        "    d = {'md5': hashlib.md5(b).hexdigest()}; imdb._PUBLISHED_DIGESTS[n] = (d, d)\n"
        f"sys.exit(main(['train', '--epochs', '1', *{SMALL!r}, '--runs-dir', 'runs', '--verbose', '2']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert not (clone.parent.parent / "shared").exists()
    assert "downloading imdb.npz from the mirror" in result.stdout
    assert (tmp_path / "cache" / "npnet" / "datasets" / NPZ_NAME).is_file()
    assert len(list((clone / "runs").iterdir())) == 1
