"""`dispatcher package`: deterministic zips, what ships and what is refused, the layer, the image.

Real files, real zips, the real CLI; the layer is built from PyPI's wheels
(pip's cache makes a second build cheap).  The end-to-end proof that the zips
run as Lambda would run them is tests/test_deploy_sandbox.py.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import msgpack
import pytest

from conftest import run_cli

from dispatcher.config import load_fast
from dispatcher.package import FUNCTION_ZIP_LIMIT, PackageError, build_function, render_dockerfile
from dispatcher.package._select import matches
from dispatcher.package.layer import RUN_CODE

ROOT = Path(__file__).resolve().parent.parent

PY = "%d.%d" % sys.version_info[:2]


def make_function(folder: Path, config: str | None = None) -> Path:
    """A folder with an exec-kind shell worker and some files around it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dispatcher.yaml").write_text(config or "workers:\n  echo:\n    command: [./echo.sh]\n    protocol: exec\n")
    worker = folder / "echo.sh"
    worker.write_text("#!/bin/sh\ncat\n")
    worker.chmod(0o755)
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "words.txt").write_text("alpha\nbeta\n")
    return folder / "dispatcher.yaml"


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return [info.filename for info in zf.infolist() if not info.is_dir()]


def package(*args: str, cwd: Path) -> tuple[int, str]:
    done = run_cli("package", *args, cwd=cwd)
    return done.returncode, done.stderr.decode(errors="replace")


# -- determinism ----------------------------------------------------------------------------


def test_function_zip_is_byte_identical_across_runs_and_mtimes(tmp_path: Path) -> None:
    make_function(tmp_path / "fn")
    rc, _ = package("--function", "-o", str(tmp_path / "a.zip"), cwd=tmp_path / "fn")
    assert rc == 0
    for path in (tmp_path / "fn").rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))  # a fresh checkout has other timestamps
    (tmp_path / "fn" / "data" / "words.txt").chmod(0o600)  # and another umask
    rc, _ = package("--function", "-o", str(tmp_path / "b.zip"), cwd=tmp_path / "fn")
    assert rc == 0
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {i.filename: i.external_attr >> 16 for i in infos}
    assert modes["echo.sh"] == stat.S_IFREG | 0o755  # the exec bit is kept
    assert modes["data/words.txt"] == stat.S_IFREG | 0o644
    assert modes["data/"] == stat.S_IFDIR | 0o755


def test_function_zip_holds_the_config_and_a_cache_valid_where_it_is_unpacked(tmp_path: Path) -> None:
    make_function(tmp_path / "fn")
    rc, err = package("--function", "-o", str(tmp_path / "f.zip"), cwd=tmp_path / "fn")
    assert rc == 0, err
    assert names(tmp_path / "f.zip") == ["data/words.txt", "dispatcher.yaml", "dispatcher.yaml.cache", "echo.sh"]
    assert re.search(r"f\.zip: 4 files, [\d.]+ (KB|B) zipped, [\d.]+ (KB|B) unzipped", err), err
    task = tmp_path / "var-task"
    with zipfile.ZipFile(tmp_path / "f.zip") as zf:
        zf.extractall(task)
    # The cache was written for the shipped bytes and holds no build path: valid at its new home, without yaml.
    probe = (
        "import sys; from dispatcher.config import load_fast; "
        f"c = load_fast({str(task / 'dispatcher.yaml')!r}, {{}}); "
        "print(c.workers['echo'].cwd, 'yaml' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(task), "False"]


def test_a_stale_cache_in_the_folder_is_not_shipped(tmp_path: Path) -> None:
    config = make_function(tmp_path / "fn")
    Path(str(config) + ".cache").write_bytes(b"stale junk")
    rc, err = package("--function", "-o", str(tmp_path / "f.zip"), cwd=tmp_path / "fn")
    assert rc == 0, err
    with zipfile.ZipFile(tmp_path / "f.zip") as zf:
        assert zf.read("dispatcher.yaml.cache") != b"stale junk"
        (tmp_path / "x").mkdir()
        zf.extractall(tmp_path / "x")
    assert load_fast(str(tmp_path / "x" / "dispatcher.yaml"), {}).workers["echo"].protocol == "exec"


def test_another_python_version_leaves_the_cache_out_and_says_so(tmp_path: Path) -> None:
    make_function(tmp_path / "fn")
    other = "3.13" if PY != "3.13" else "3.12"
    rc, err = package("--function", "--python", other, "-o", str(tmp_path / "f.zip"), cwd=tmp_path / "fn")
    assert rc == 0, err
    assert f"config cache left out: it can only be written by Python {other}" in err
    assert "dispatcher.yaml.cache" not in names(tmp_path / "f.zip")


# -- what ships -----------------------------------------------------------------------------


def test_secrets_and_noise_are_skipped_and_named(tmp_path: Path) -> None:
    make_function(tmp_path / "fn")
    fn = tmp_path / "fn"
    for secret in (".env", ".env.production", "server.pem", "deploy.key", "id_rsa"):
        (fn / secret).write_text("SECRET=1\n")
    (fn / ".git").mkdir()
    (fn / ".git" / "config").write_text("[core]\n")
    (fn / "__pycache__").mkdir()
    (fn / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (fn / "old.zip").write_bytes(b"PK")
    rc, err = package("--function", "-o", "function.zip", cwd=fn)
    assert rc == 0, err
    shipped = names(fn / "function.zip")
    assert shipped == ["data/words.txt", "dispatcher.yaml", "dispatcher.yaml.cache", "echo.sh"]
    for secret in (".env", ".env.production", "server.pem", "deploy.key", "id_rsa"):
        assert f"skipped {secret}: looks like a secret" in err, err
    assert "skipped .git/: version control" in err
    assert "skipped __pycache__/: bytecode cache" in err
    assert "skipped old.zip: build output" in err


def test_package_include_and_exclude(tmp_path: Path) -> None:
    config = "workers:\n  echo:\n    command: [./echo.sh]\n    protocol: exec\npackage:\n  include: [echo.sh, data/]\n  exclude: ['*.txt']\n"
    make_function(tmp_path / "fn", config)
    (tmp_path / "fn" / "data" / "keep.json").write_text("{}")
    (tmp_path / "fn" / "README.md").write_text("docs\n")
    rc, err = package("--function", "-o", str(tmp_path / "f.zip"), cwd=tmp_path / "fn")
    assert rc == 0, err
    assert names(tmp_path / "f.zip") == ["data/keep.json", "dispatcher.yaml", "dispatcher.yaml.cache", "echo.sh"]
    assert "skipped data/words.txt: package.exclude: *.txt" in err


def test_a_default_skipped_file_ships_when_included_by_path_but_a_secret_never_does(tmp_path: Path) -> None:
    config = "workers:\n  echo:\n    command: [./echo.sh]\n    protocol: exec\npackage:\n  include: [echo.sh, template.yaml, '*.zip', .env]\n"
    make_function(tmp_path / "fn", config)
    for name in ("template.yaml", "assets.zip", ".env"):
        (tmp_path / "fn" / name).write_text("x\n")
    rc, err = package("--function", "-o", str(tmp_path / "f.zip"), cwd=tmp_path / "fn")
    assert rc == 0, err
    assert names(tmp_path / "f.zip") == ["dispatcher.yaml", "dispatcher.yaml.cache", "echo.sh", "template.yaml"]
    assert "skipped assets.zip: build output (*.zip); list it in package.include" in err  # a wildcard is not a name
    assert "skipped .env: looks like a secret" in err


def test_a_symlink_inside_the_folder_ships_its_content(tmp_path: Path) -> None:
    make_function(tmp_path / "fn")
    (tmp_path / "fn" / "alias.txt").symlink_to("data/words.txt")
    assert build_function(str(tmp_path / "fn" / "dispatcher.yaml"), str(tmp_path / "f.zip")).files == 5
    with zipfile.ZipFile(tmp_path / "f.zip") as zf:
        assert zf.read("alias.txt") == b"alpha\nbeta\n"


@pytest.mark.parametrize(
    "pattern, expected",
    [("a/.git/x", (".git/", True)), ("a/.git", (".git/", False)), ("d/x.pem", ("*.pem", True)), ("bin/tool", ("bin", True)),
     ("templates/a.html", ("templates/*.html", True)), ("x/templates/a.html", ("templates/*.html", False))],
)  # fmt: skip
def test_pattern_matching(pattern: str, expected: tuple[str, bool]) -> None:
    assert matches(pattern, expected[0]) is expected[1]


# -- refusals -------------------------------------------------------------------------------


def test_symlink_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    make_function(tmp_path / "fn")
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n")
    (tmp_path / "fn" / "data" / "link.txt").symlink_to(outside)
    rc, err = package("--function", "-o", "function.zip", cwd=tmp_path / "fn")
    assert rc == 3
    assert f"data/link.txt is a symlink to {outside}, outside the function's folder" in err
    assert "copy the file in, or list the link in package.exclude" in err
    assert not (tmp_path / "fn" / "function.zip").exists()


def test_dangling_symlink_is_refused(tmp_path: Path) -> None:
    make_function(tmp_path / "fn")
    (tmp_path / "fn" / "gone").symlink_to(tmp_path / "nowhere")
    rc, err = package("--function", cwd=tmp_path / "fn")
    assert rc == 3 and "gone is a symlink to" in err and "which does not exist" in err


def test_dotdot_in_package_include_is_a_config_error_with_file_line_key(tmp_path: Path) -> None:
    config = "workers:\n  echo:\n    command: [./echo.sh]\n    protocol: exec\npackage:\n  include:\n    - echo.sh\n    - ../common/lib.sh\n"
    make_function(tmp_path / "fn", config)
    rc, err = package("--function", cwd=tmp_path / "fn")
    assert rc == 2
    assert "dispatcher.yaml:8: package.include[1]: '../common/lib.sh' leaves this file's folder (..)" in err, err


def test_dotdot_in_a_worker_command_is_refused(tmp_path: Path) -> None:
    config = "workers:\n  legacy:\n    command: [php, ../../adapters/php/bin/dispatcher-legacy.php, greet.php]\n"
    make_function(tmp_path / "fn", config)
    rc, err = package("--function", cwd=tmp_path / "fn")
    assert rc == 3
    assert "workers.legacy.command[1] '../../adapters/php/bin/dispatcher-legacy.php' is outside the function's folder" in err


@pytest.mark.parametrize(
    "config, message",
    [
        ("workers:\n  w: {command: [./w], cwd: ..}\n", "workers.w.cwd '..' is outside the function's folder"),
        ("workers:\n  w: {command: [./missing]}\n", "workers.w.command[0] './missing' does not exist in"),
        ("workers:\n  w: {command: [./data/words.txt]}\n", "workers.w.command[0] './data/words.txt' is not executable"),
        ("workers:\n  w: {command: [./echo.sh]}\npackage: {exclude: [echo.sh]}\n", "workers.w.command[0] './echo.sh' is left out of the package"),
    ],
)
def test_worker_paths_are_checked(tmp_path: Path, config: str, message: str) -> None:
    make_function(tmp_path / "fn", config)
    with pytest.raises(PackageError, match=re.escape(message)):
        build_function(str(tmp_path / "fn" / "dispatcher.yaml"), str(tmp_path / "f.zip"))


@pytest.mark.parametrize(
    "package_yaml, line, key, message",
    [
        ("package: [a]", 4, "package", "must be a mapping with include and/or exclude"),
        ("package: {inclde: [a]}", 4, "package.inclde", "unknown key 'inclde'"),
        ("package: {include: a}", 4, "package.include", "must be a list of paths or patterns"),
        ("package: {exclude: [/etc/passwd]}", 4, "package.exclude[0]", "'/etc/passwd' is an absolute path"),
        ("package: {include: ['']}", 4, "package.include[0]", "is empty"),
    ],
)
def test_package_key_errors(tmp_path: Path, package_yaml: str, line: int, key: str, message: str) -> None:
    make_function(tmp_path / "fn", "workers:\n  echo:\n    command: [./echo.sh]\n" + package_yaml + "\n")
    done = run_cli("check", "--config", str(tmp_path / "fn" / "dispatcher.yaml"))
    err = done.stderr.decode()
    assert done.returncode == 2
    assert f"dispatcher.yaml:{line}: {key}: {message}" in err, err


def test_over_50_mb_zipped_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    make_function(tmp_path / "fn")
    with open(tmp_path / "fn" / "data" / "noise.bin", "wb") as f:
        f.write(os.urandom(FUNCTION_ZIP_LIMIT + (1 << 20)))  # random bytes do not compress
    rc, err = package("--function", "-o", "function.zip", cwd=tmp_path / "fn")
    assert rc == 3
    assert "over Lambda's 50.0 MB limit for a direct upload (nothing written)" in err, err
    assert "dispatcher package --image" in err
    assert [p.name for p in (tmp_path / "fn").iterdir() if p.suffix == ".zip" or p.name.startswith(".dispatcher")] == []


def test_over_250_mb_unzipped_is_refused_before_compressing(tmp_path: Path) -> None:
    make_function(tmp_path / "fn")
    with open(tmp_path / "fn" / "data" / "sparse.bin", "wb") as f:
        f.truncate(251 << 20)  # sparse: no disk, nothing read before the refusal
    rc, err = package("--function", "-o", "function.zip", cwd=tmp_path / "fn")
    assert rc == 3
    assert re.search(r"the function would be 251\.0 MB unzipped, over Lambda's 250\.0 MB limit", err), err


def test_the_layer_counts_in_the_unzipped_limit(tmp_path: Path) -> None:
    make_function(tmp_path / "fn")
    with zipfile.ZipFile(tmp_path / "layer.zip", "w") as zf:
        info = zipfile.ZipInfo("python/big.bin")
        zf.writestr(info, b"\0" * (249 << 20), compress_type=zipfile.ZIP_DEFLATED)
    with open(tmp_path / "fn" / "data" / "mid.bin", "wb") as f:
        f.truncate(2 << 20)
    rc, err = package("--function", "--with-layer", str(tmp_path / "layer.zip"), cwd=tmp_path / "fn")
    assert rc == 3 and "plus the layer's 249.0 MB" in err, err


# -- the layer ------------------------------------------------------------------------------


def test_layer_layout(tmp_path: Path) -> None:
    rc, err = package("--layer", "-o", "layer.zip", cwd=tmp_path)
    assert rc == 0, err
    assert "set AWS_LAMBDA_EXEC_WRAPPER=/opt/dispatcher-wrapper" in err
    with zipfile.ZipFile(tmp_path / "layer.zip") as zf:
        infos = {i.filename: i for i in zf.infolist()}
        wrapper = zf.read("dispatcher-wrapper").decode()
    assert infos["dispatcher-wrapper"].external_attr >> 16 == stat.S_IFREG | 0o755
    assert wrapper.startswith("#!/bin/sh\n")
    # no "$@": the managed bootstrap is ignored; -c, not -m (runpy's imports cost every cold start)
    assert wrapper.rstrip().endswith(f"exec /var/lang/bin/python3 -S -c '{RUN_CODE}' run")
    tag = PY.replace(".", "")
    for module in ("dispatcher/__init__", "dispatcher/supervisor", "dispatcher/config/_cache", "dispatcher_worker/__main__", "yaml/__init__", "msgpack/__init__"):
        folder, _, stem = module.rpartition("/")
        assert f"python/{folder}/__pycache__/{stem}.cpython-{tag}.pyc" in infos, module
    assert any(re.fullmatch(rf"python/msgpack/_cmsgpack\.cpython-{tag}-x86_64-linux-gnu\.so", n) for n in infos), "no x86_64 msgpack extension"
    # unchecked-hash pycs: flags word 0b01 (hash-based, not checked): never re-validated on a read-only /opt
    with zipfile.ZipFile(tmp_path / "layer.zip") as zf:
        header = zf.read(f"python/dispatcher/__pycache__/supervisor.cpython-{tag}.pyc")[4:8]
    assert int.from_bytes(header, "little") == 0b01


def test_layer_for_arm64_carries_aarch64_wheels(tmp_path: Path) -> None:
    rc, err = package("--layer", "--arch", "arm64", "-o", "layer.zip", cwd=tmp_path)
    assert rc == 0, err
    extensions = [n for n in names(tmp_path / "layer.zip") if n.endswith(".so")]
    assert extensions and all("aarch64" in n or "abi3" in n for n in extensions), extensions


def test_layer_for_a_python_we_cannot_compile_for_is_refused_or_ships_sources(tmp_path: Path) -> None:
    other = "3.13" if PY != "3.13" else "3.12"
    empty = tmp_path / "empty-path"
    empty.mkdir()
    done = run_cli("package", "--layer", "--python", other, cwd=tmp_path, env={"PATH": str(empty)})
    err = done.stderr.decode()
    assert done.returncode == 3
    assert f"cannot compile bytecode for Python {other}: this is Python {PY} and there is no python{other} on PATH" in err
    assert "--no-bytecode" in err and not (tmp_path / "layer.zip").exists()
    done = run_cli("package", "--layer", "--python", other, "--no-bytecode", cwd=tmp_path, env={"PATH": str(empty)}, timeout=300)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "no bytecode: sources only" in err
    shipped = names(tmp_path / "layer.zip")
    assert "python/dispatcher/supervisor.py" in shipped and not [n for n in shipped if n.endswith(".pyc")]
    assert any(f"cpython-{other.replace('.', '')}" in n for n in shipped if n.endswith(".so")), "wheels are not for the target"


def test_bad_layer_arguments(tmp_path: Path) -> None:
    rc, err = package("--layer", "--python", "3.9", cwd=tmp_path)
    assert rc == 3 and "Python 3.9 is not a target: use one of 3.11, 3.12, 3.13" in err
    rc, err = package("--layer", "--arch", "sparc", cwd=tmp_path)
    assert rc == 3 and "architecture 'sparc' is not a Lambda architecture" in err


def test_run_code_is_the_run_command(tmp_path: Path) -> None:
    """The bootstraps' `python3 -S -c RUN_CODE run ...` is `dispatcher run ...`: same
    arguments, same exit statuses (2: AWS_LAMBDA_RUNTIME_API not set)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_LAMBDA"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.path.dirname(os.path.dirname(msgpack.__file__))])
    helped = subprocess.run([sys.executable, "-S", "-c", RUN_CODE, "run", "--help"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=60)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: dispatcher run"), helped
    config = tmp_path / "dispatcher.yaml"
    config.write_text("workers:\n  w:\n    command: [./w]\n")
    unset = subprocess.run([sys.executable, "-S", "-c", RUN_CODE, "run", "--config", str(config)],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert unset.returncode == 2 and "AWS_LAMBDA_RUNTIME_API is not set" in unset.stderr, unset


# -- the image ------------------------------------------------------------------------------


def test_image_dockerfile(tmp_path: Path) -> None:
    rc, err = package("--image", "--python", "3.12", "--arch", "arm64", "-o", "Dockerfile", cwd=tmp_path)
    assert rc == 0, err
    text = (tmp_path / "Dockerfile").read_text()
    assert text == render_dockerfile("3.12", "arm64")
    assert "FROM --platform=linux/arm64 public.ecr.aws/lambda/python:3.12\n" in text
    entrypoint = json.loads(text.split("\nENTRYPOINT ", 1)[1].splitlines()[0])
    assert entrypoint == ["/var/lang/bin/python3", "-S", "-c", RUN_CODE, "run"]
    assert "python3 -m dispatcher check --write-cache" in text  # the cache, by the image's own interpreter
    assert "ENV PYTHONPATH=/opt/python" in text
    (tmp_path / "Dockerfile").write_text("FROM mine\n")
    rc, err = package("--image", "-o", "Dockerfile", cwd=tmp_path)
    assert rc == 2 and "Dockerfile exists and differs: nothing written; pass --force" in err
    assert (tmp_path / "Dockerfile").read_text() == "FROM mine\n"
    rc, err = package("--image", "--python", "3.12", "--arch", "arm64", "--force", cwd=tmp_path)
    assert rc == 0 and (tmp_path / "Dockerfile").read_text() == text


def test_image_unpack_step_keeps_exec_bits(tmp_path: Path) -> None:
    """Run the Dockerfile's unpack program (docker is not available) on real zips."""
    make_function(tmp_path / "fn")
    build_function(str(tmp_path / "fn" / "dispatcher.yaml"), str(tmp_path / "function.zip"))
    with zipfile.ZipFile(tmp_path / "layer.zip", "w") as zf:
        zf.writestr(zipfile.ZipInfo("python/x.py"), b"")
    program = re.search(r'RUN printf "(.*)" \| python3 -', render_dockerfile(PY, "x86_64"))
    assert program is not None
    source = program[1].encode().decode("unicode_escape")
    source = source.replace("/tmp/layer.zip", str(tmp_path / "layer.zip")).replace("/tmp/function.zip", str(tmp_path / "function.zip"))
    source = source.replace("'/opt'", repr(str(tmp_path / "opt")))
    task = tmp_path / "task"
    subprocess.run([sys.executable, "-c", source], check=True, env={**os.environ, "LAMBDA_TASK_ROOT": str(task)})
    assert os.access(task / "echo.sh", os.X_OK) and (task / "dispatcher.yaml.cache").is_file()
    assert (tmp_path / "opt" / "python" / "x.py").is_file()


def test_package_help_and_usage(tmp_path: Path) -> None:
    done = run_cli("package", "--help")
    assert done.returncode == 0 and b"--layer" in done.stdout and b"exit status" in done.stdout
    done = run_cli("package", cwd=tmp_path)
    assert done.returncode == 2 and b"one of the arguments --layer --function --image is required" in done.stderr
