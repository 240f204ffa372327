"""Tests of the benchmark's own pieces, with real processes; no speed is asserted.

Run: `.venv/bin/python -m pytest bench/tests` from the repository root.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import events, report, targets, toolchain  # noqa: E402
from bench.contenders import CONTENDERS, Launch, resolve, supervisor_speaks  # noqa: E402
from bench.measure import Spec, run_once  # noqa: E402
from bench.server import ApiServer  # noqa: E402
from tests.conftest import require_tool  # noqa: E402


@pytest.fixture(scope="module")
def bins() -> toolchain.Binaries:
    require_tool("cargo", "curl https://sh.rustup.rs | sh  (or apt-get install cargo)")
    return toolchain.build_bench_binaries()


# -- Runtime API server ------------------------------------------------------

def _request(sock: socket.socket, method: str, path: str, body: bytes = b"",
             headers: str = "") -> tuple[int, dict[str, str], bytes]:
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode()
                 + body)
    f = sock.makefile("rb")
    status = int(f.readline().split()[1])
    hdrs = {}
    while (line := f.readline()) not in (b"\r\n", b""):
        k, v = line.decode().split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, f.read(int(hdrs.get("content-length", 0)))


def test_server_serves_events_counts_and_reports(bins: toolchain.Binaries, tmp_path: Path) -> None:
    event = tmp_path / "e.json"
    event.write_bytes(b'{"a": 1}')
    with ApiServer(bins.apiserver, event, pinned=False, count=3, warmup=1,
                   dump_last=tmp_path / "last") as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port))
        ids = []
        for i in range(4):
            status, hdrs, body = _request(sock, "GET", "/2018-06-01/runtime/invocation/next")
            assert status == 200 and body == b'{"a": 1}'
            assert hdrs["content-type"] == "application/json"
            assert hdrs["lambda-runtime-invoked-function-arn"].startswith("arn:aws:lambda:")
            assert int(hdrs["lambda-runtime-deadline-ms"]) > 1_000_000_000_000
            rid = hdrs["lambda-runtime-aws-request-id"]
            ids.append(rid)
            kind = "error" if i == 2 else "response"
            status, _, _ = _request(sock, "POST", f"/2018-06-01/runtime/invocation/{rid}/{kind}", b'{"b": 2}')
            assert status == 202
        assert len(set(ids)) == 4
        # An id that is not outstanding (already answered) is refused.
        status, _, body = _request(sock, "POST", f"/2018-06-01/runtime/invocation/{ids[0]}/response", b"x")
        assert status == 400 and b"InvalidRequestID" in body
        stats = srv.wait_stats(10, alive=lambda: True)
    assert stats is not None
    assert stats["count"] == 3 and stats["errors"] == 1 and stats["warmup"] == 1
    assert stats["p50_us"] > 0 and stats["p99_us"] >= stats["p50_us"]
    assert stats["first_response_unix_ns"] >= stats["first_next_unix_ns"]
    assert (tmp_path / "last").read_bytes() == b'{"b": 2}'


def test_server_serves_concurrent_next_and_reports_lost_and_duplicated(bins: toolchain.Binaries, tmp_path: Path) -> None:
    """Slots: several /next open at once on their own connections, answered in any
    order; after the run the `drained` line says what was never answered and
    what was answered twice."""
    event = tmp_path / "e.json"
    event.write_bytes(b'{"a": 1}')
    with ApiServer(bins.apiserver, event, pinned=False, count=2) as srv:
        socks = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(3)]
        ids = []
        for sock in socks:
            status, hdrs, _ = _request(sock, "GET", "/2018-06-01/runtime/invocation/next")
            assert status == 200
            ids.append(hdrs["lambda-runtime-aws-request-id"])
        # Answered out of order; the second answer ends the measured run with one still in flight.
        for i in (2, 0):
            assert _request(socks[i], "POST", f"/2018-06-01/runtime/invocation/{ids[i]}/response", b"{}")[0] == 202
        stats = srv.wait_stats(10, alive=lambda: True)
        assert stats is not None and stats["count"] == 2
        assert _request(socks[2], "POST", f"/2018-06-01/runtime/invocation/{ids[2]}/response", b"{}")[0] == 400
        assert _request(socks[1], "POST", f"/2018-06-01/runtime/invocation/{ids[1]}/response", b"{}")[0] == 202
        drained = srv.wait_drained(10, alive=lambda: True)
    assert drained == {"drained": True, "unanswered": 0, "duplicates": 1, "handed_out": 3}


def test_server_reports_unanswered_when_stdin_closes_first(bins: toolchain.Binaries, tmp_path: Path) -> None:
    event = tmp_path / "e.json"
    event.write_bytes(b"{}")
    srv = ApiServer(bins.apiserver, event, pinned=False, count=1)
    with srv:
        socks = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(2)]
        rids = [_request(s, "GET", "/2018-06-01/runtime/invocation/next")[1]["lambda-runtime-aws-request-id"] for s in socks]
        assert _request(socks[0], "POST", f"/2018-06-01/runtime/invocation/{rids[0]}/response", b"{}")[0] == 202
        assert srv.wait_stats(10, alive=lambda: True) is not None
        assert srv.proc is not None and srv.proc.stdin is not None
        srv.proc.stdin.close()
        drained = srv.wait_drained(10, alive=lambda: True)
    assert drained is not None and drained["drained"] is False and drained["unanswered"] == 1


def test_server_extension_register_and_init_error(bins: toolchain.Binaries, tmp_path: Path) -> None:
    event = tmp_path / "e.json"
    event.write_bytes(b"{}")
    with ApiServer(bins.apiserver, event, pinned=False, count=5) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port))
        status, hdrs, body = _request(sock, "POST", "/2020-01-01/extension/register", b'{"events":[]}',
                                      "Lambda-Extension-Name: noop\r\n")
        assert status == 200 and hdrs["lambda-extension-identifier"]
        assert json.loads(body)["functionName"] == "bench"
        status, _, _ = _request(sock, "POST", "/2018-06-01/runtime/init/error",
                                b'{"errorType":"Runtime.X","errorMessage":"boom"}')
        assert status == 202
        stats = srv.wait_stats(10, alive=lambda: True)
    assert stats is not None and "boom" in stats["init_error"] and stats["extensions"] == 1


def test_server_rejects_bad_arguments(bins: toolchain.Binaries) -> None:
    proc = subprocess.run([str(bins.apiserver), "--event", "/nonexistent"], capture_output=True, text=True)
    assert proc.returncode == 2 and "cannot read event file /nonexistent" in proc.stderr
    proc = subprocess.run([str(bins.apiserver), "--bogus"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown argument" in proc.stderr


# -- stand-in echo worker ----------------------------------------------------

def _frame(obj: dict) -> bytes:
    data = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(data)) + data


def _read_frame(stream) -> dict:
    (n,) = struct.unpack(">I", stream.read(4))
    return msgpack.unpackb(stream.read(n), raw=False)


@pytest.mark.parametrize("size", [0, 5, 300, 70_000, 1_000_000])
def test_echo_worker_answers_invokes_byte_for_byte(bins: toolchain.Binaries, size: int) -> None:
    proc = subprocess.Popen([str(bins.echo_worker)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert _read_frame(proc.stdout) == {"type": "ready", "protocol": 1, "features": []}
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    invoke = {"type": "invoke", "id": "r" * 40, "payload": payload, "deadline_ms": 1, "function_arn": "a",
              "trace_id": None, "client_context": None, "cognito_identity": None, "tenant_id": None,
              "future_key": [1, {"x": 2.5}]}
    proc.stdin.write(_frame(invoke))
    proc.stdin.flush()
    assert _read_frame(proc.stdout) == {"type": "result", "id": "r" * 40, "payload": payload}
    proc.stdin.write(_frame({"type": "shutdown"}))
    proc.stdin.close()
    assert proc.wait(5) == 0


def test_echo_worker_exits_70_on_a_malformed_frame(bins: toolchain.Binaries) -> None:
    proc = subprocess.run([str(bins.echo_worker)], input=b"\x00\x00\x00\x02\x93\x01",
                          capture_output=True, timeout=5)
    assert proc.returncode == 70 and b"not a msgpack map" in proc.stderr


# -- one measured run: success and each kind of failure ------------------------

def _launch(argv: list[str]) -> Launch:
    return Launch(argv, ROOT, {})


def test_run_once_measures_the_native_baseline(bins: toolchain.Binaries, tmp_path: Path) -> None:
    spec = Spec(events.SMALL, count=50, warmup=5, read_rss=True, exact=True)
    res = run_once(_launch([str(bins.native)]), bins.apiserver, spec, pinned=False, workdir=tmp_path)
    assert res.ok, res.error
    assert res.stats["count"] == 50 and res.cold_ms and res.cold_ms > 0
    assert res.rss_kb and res.rss_kb > 0


@pytest.mark.parametrize("event", ["small", "1mb"])
def test_run_once_measures_the_lean_loop_byte_for_byte(bins: toolchain.Binaries, tmp_path: Path,
                                                       event: str) -> None:
    lean = next(c for c in CONTENDERS if c.name == "lean-loop")
    launch = resolve(lean, bins)
    assert isinstance(launch, Launch), launch
    path = events.write_events(tmp_path)[event]
    spec = Spec(path, count=30 if event == "small" else 3, warmup=2, read_rss=True, exact=True)
    res = run_once(launch, bins.apiserver, spec, pinned=False, workdir=tmp_path)
    assert res.ok, res.error
    assert res.stats["count"] == spec.count and res.stats["errors"] == 0
    # The lean loop's worker is its child: the tree holds two processes' memory.
    assert res.tree_rss_kb and res.rss_kb and res.tree_rss_kb > res.rss_kb


def test_run_once_reports_a_contender_that_exits(bins: toolchain.Binaries, tmp_path: Path) -> None:
    launch = _launch(["sh", "-c", "echo 'no handler here' >&2; exit 3"])
    res = run_once(launch, bins.apiserver, Spec(events.SMALL, count=1), pinned=False, workdir=tmp_path)
    assert not res.ok
    assert "exited with status 3" in res.error and "no handler here" in res.error


def test_run_once_reports_a_wrong_answer(bins: toolchain.Binaries, tmp_path: Path) -> None:
    script = tmp_path / "liar.py"
    script.write_text(
        "import os, urllib.request as u\n"
        "api = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime/invocation/'\n"
        "while True:\n"
        "    r = u.urlopen(api + 'next'); r.read()\n"
        "    rid = r.headers['Lambda-Runtime-Aws-Request-Id']\n"
        "    u.urlopen(u.Request(api + rid + '/response', data=b'{\"not\": \"the event\"}')).read()\n")
    res = run_once(_launch([sys.executable, str(script)]), bins.apiserver, Spec(events.SMALL, count=2),
                   pinned=False, workdir=tmp_path)
    assert not res.ok and "not the event's JSON value" in res.error


# -- events, contenders, targets, report ---------------------------------------

@pytest.mark.parametrize("size", [10_000, 1_000_000])
def test_large_event_is_exact_size_valid_and_not_canonical(size: int) -> None:
    data = events.large_event(size)
    assert len(data) == size
    value = json.loads(data)
    assert json.dumps(value).encode() != data
    assert events.same_json(data, json.dumps(value, ensure_ascii=False).encode())


def test_contender_list_is_well_formed(bins: toolchain.Binaries) -> None:
    names = [c.name for c in CONTENDERS]
    assert len(names) == len(set(names))
    for c in CONTENDERS:
        assert c.kind in ("native", "lean", "dispatcher", "awslambdaric", "shell")
        assert c.kind != "dispatcher" or c.configs, c.name
        got = resolve(c, bins)
        assert isinstance(got, Launch) or got.reason  # every skip says why
    assert supervisor_speaks("no-such-protocol") is False


def _figures(**tp: float) -> dict:
    entry = lambda v: {"median": v, "min": v, "max": v, "n": 1}  # noqa: E731
    return {"throughput": {"pinned": {k: entry(v) for k, v in tp.items()}},
            "cold_start_ms": {}, "roundtrip_ms": {}, "rss_mb": {"dispatcher-rust": {"top_mb": 30.0}}}


def test_targets_pass_fail_and_na() -> None:
    rows = {r["id"]: r for r in targets.evaluate(_figures(**{"dispatcher-rust": 22_000, "awslambdaric": 10_000,
                                                             "native": 50_000}))}
    assert rows["tp-rust-vs-ric"]["status"] == "PASS" and rows["tp-rust-vs-ric"]["value"] == pytest.approx(2.2)
    assert rows["tp-rust-vs-native"]["status"] == "FAIL"
    assert rows["tp-python-vs-ric"]["status"] == "N/A" and "dispatcher-python" in rows["tp-python-vs-ric"]["why"]
    assert rows["rss-supervisor"]["status"] == "FAIL"
    assert rows["cold-rust-vs-ric"]["status"] == "N/A"
    assert rows["tp-rust-vs-lean"]["status"] == "N/A" and "lean-loop" in rows["tp-rust-vs-lean"]["why"]
    rows = {r["id"]: r for r in targets.evaluate(_figures(**{"dispatcher-rust": 17_000, "lean-loop": 20_000}))}
    assert rows["tp-rust-vs-lean"]["status"] == "PASS" and rows["tp-rust-vs-lean"]["value"] == pytest.approx(0.85)


def test_throughput_table_gives_each_figure_as_a_fraction_of_the_lean_loop() -> None:
    figs = _figures(**{"dispatcher-rust": 15_000, "lean-loop": 20_000})
    lines = report._table("Throughput", "inv/s", figs["throughput"], ["lean-loop", "dispatcher-rust"],
                          {"lean-loop": "L", "dispatcher-rust": "D"}, ["pinned"], versus="lean-loop")
    assert "| contender | pinned (inv/s) | pinned ÷ lean-loop |" in lines
    assert "| D | 15,000 | 0.75x |" in lines and "| L | 20,000 | 1.00x |" in lines
    # Without the lean loop's figure there is no ratio column (never a ratio to nothing).
    lines = report._table("Throughput", "inv/s", _figures(**{"native": 1.0})["throughput"], ["native"],
                          {"native": "N"}, ["pinned"], versus="lean-loop")
    assert not any("÷" in line for line in lines)


# -- the whole driver ------------------------------------------------------------

def test_smoke_run_writes_results(bins: toolchain.Binaries, tmp_path: Path) -> None:
    for tool, hint in (("curl", "apt-get install curl"), ("jq", "apt-get install jq")):
        require_tool(tool, hint)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--no-install",
                           "--only", "native", "lean-loop", "bash", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "smoke.json").read_text())
    for name in ("native", "lean-loop", "bash"):
        assert res["contenders"][name]["status"] == "ok", res["contenders"][name]
    for fig in ("throughput", "cold_start_ms"):
        assert {"native", "lean-loop", "bash"} <= set(res["figures"][fig]["pinned"]), fig
    assert "6mb" in res["figures"]["roundtrip_ms"] and "native" in res["figures"]["rss_mb"]
    assert {t["id"] for t in res["targets"]} == {t.id for t in targets.TARGETS}
    md = (tmp_path / "smoke.md").read_text()
    assert "ratios measured in one run" in md and res["machine"]["cpu"] in md
    assert "pinned ÷ lean-loop" in md
    assert "PASS" in proc.stdout or "N/A" in proc.stdout


def test_markdown_names_the_machine_and_failed_contenders() -> None:
    res = {"machine": report.machine() | {"loadavg_at_start": "0 0 0"}, "started": "now", "duration_s": 1.0,
           "plan": {"name": "smoke", "modes": ["pinned"]}, "notes": ["a note"],
           "contenders": {"x": {"label": "X", "status": "failed", "note": "exited with status 3 | boom"}},
           "figures": {"throughput": {}, "latency_p50_us": {}, "latency_p99_us": {}, "cold_start_ms": {},
                       "roundtrip_ms": {}, "rss_mb": {}, "emulator": {"note": "absent"}},
           "targets": targets.evaluate({})}
    md = report.markdown(res)
    assert "ratios measured in one run" in md and f"{os.cpu_count()} cores" in md
    assert "| X | failed | exited with status 3 \\| boom |" in md
    assert "not measured: absent" in md and "- a note" in md


def test_concurrency_run_once_checks_every_event_was_answered_once(bins: toolchain.Binaries, tmp_path: Path) -> None:
    """bench/concurrency.py's measurement with a real LMI contender (awslambdaric's
    own LMI mode, 2 processes): figures, and no event lost or answered twice."""
    pytest.importorskip("awslambdaric", reason="the bench extra (pip install -e .[bench]) installs awslambdaric")
    from bench import concurrency

    c = next(c for c in concurrency.CONTENDERS if c.name == "awslambdaric-io")
    res = concurrency.run_once(c, 2, tmp_path, Path("/nonexistent"), bins.apiserver, seconds=0.5, warmup=2)
    assert res["ok"], res
    assert res["throughput"] > 0 and res["count"] > 0
    assert res["unanswered"] == 0 and res["duplicates"] == 0
    assert res["handed_out"] >= res["count"] + 2


# -- the parser micro-benchmark (bench/parser_bench.py) -------------------------


def test_parser_bench_runs_ab_and_reports_refusals(tmp_path: Path) -> None:
    """A/B against a copy of a parser that refuses chunked framing: every case
    is measured for the current parser, the old one's refusals are reported,
    and a ratio is given where both ran.  (No speed is asserted.)"""
    from bench import parser_bench

    old = tmp_path / "old_http_parse.py"
    src = (ROOT / "dispatcher" / "http_parse.py").read_text()
    # A parser that knows only Content-Length, as before issue 9.
    patched = src.replace('        if "transfer-encoding" in headers or cl is None or head[0] < 200:',
                          '        if "transfer-encoding" in headers:\n'
                          '            raise HttpError("unsupported Transfer-Encoding")\n'
                          '        if cl is None or head[0] < 200:')
    assert patched != src, "the framing test this copy patches moved: update the test"
    old.write_text(patched)
    out = tmp_path / "bench.json"
    assert parser_bench.main(["--against", str(old), "--rounds", "2", "--scale", "0.001", "--cpu", "-1", "--json", str(out)]) == 0
    cases = json.loads(out.read_text())["cases"]
    assert set(cases) == set(parser_bench.CASES)
    for name, row in cases.items():
        assert row["current"]["median_ns"] > 0, name
        if "chunk" in name:
            assert "unsupported Transfer-Encoding" in row["against"]["refused"]
            assert "ratio_against_over_current" not in row
        else:
            assert row["against"]["median_ns"] > 0 and row["ratio_against_over_current"] > 0


# -- cpu_ab: every checkout runs its own worker --------------------------------

def test_cpu_ab_builds_each_checkouts_own_worker(tmp_path: Path) -> None:
    from bench import cpu_ab

    name = "examples/rust-echo/dispatcher.yaml"
    steps = cpu_ab.build_steps(name, ROOT, ROOT / name)
    assert steps[0] == ["bash", "examples/rust-echo/build.sh"]  # run with that checkout as cwd
    assert steps[-1][-3:] == ["--write-cache", "--config", str(ROOT / name)]
    # A checkout without the example's build script gets only the config cache.
    assert cpu_ab.build_steps(name, tmp_path, tmp_path / name) == [steps[-1][:-1] + [str(tmp_path / name)]]


def test_cpu_ab_says_which_checkout_lacks_the_config(tmp_path: Path, bins: toolchain.Binaries,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from bench import cpu_ab

    assert cpu_ab.main(["--root", str(tmp_path), "--config", "none.yaml", "--rounds", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'none.yaml'} does not exist" in err and "relative to each checkout" in err


# -- the Python adapter alone (bench/pyworker.py, bench/pyworker_steps.py) ------


def _run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    # A process of its own: pyworker.py pins itself to CPU 0.
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_pyworker_ab_measures_each_adapter_and_refuses_a_wrong_echo(tmp_path: Path) -> None:
    adapter = str(ROOT / "adapters" / "python")
    lean = str(ROOT / "bench" / "lean-pyworker")
    for mode, copies in (("raw", [adapter, lean]), ("json", [adapter])):
        proc = _run_bench("bench/pyworker.py", "--mode", mode, *[a for c in copies for a in ("--adapter", c)],
                          "--count", "300", "--warmup", "20", "--rounds", "1")
        assert proc.returncode == 0, proc.stderr
        rows = [line for line in proc.stdout.splitlines() if line.startswith("| /")]
        assert [row.split(" | ")[0][2:] for row in rows] == copies
        for row in rows:  # CPU time comes in clock ticks: a short run may count none
            cells = [float(cell.split()[0].replace(",", "")) for cell in row.split(" | ")[1:5]]
            assert min(cells) >= 0 and cells[-1] > 0, row  # the pair's throughput
    # A worker that answers, but not with the event, is caught.
    liar = tmp_path / "liar" / "dispatcher_worker"
    liar.mkdir(parents=True)
    (liar / "__init__.py").write_text("")
    (liar / "__main__.py").write_text((ROOT / "bench" / "lean-pyworker" / "dispatcher_worker" / "__main__.py")
                                      .read_text().replace('msg["payload"]', 'msg["payload"][::-1]'))
    proc = _run_bench("bench/pyworker.py", "--adapter", str(liar.parent), "--count", "50", "--warmup", "5",
                      "--rounds", "1")
    assert proc.returncode != 0 and "did not echo the event" in proc.stderr


def test_pyworker_starts_and_steps_report_every_row() -> None:
    adapter = str(ROOT / "adapters" / "python")
    proc = _run_bench("bench/pyworker.py", "--adapter", adapter, "--starts", "2")
    assert proc.returncode == 0, proc.stderr
    assert "spawn to ready ms" in proc.stdout and "| bare |" in proc.stdout
    proc = _run_bench("bench/pyworker_steps.py", "--adapter", adapter, "--number", "50", "--repeat", "1",
                      "--rounds", "1")
    assert proc.returncode == 0, proc.stderr
    steps = {line.split(" | ")[0][2:] for line in proc.stdout.splitlines() if line.startswith("| ")}
    assert {"read", "decode", "answer raw", "answer json", "write"} <= steps


def test_concurrency_summary_gives_the_ratio_of_medians_and_the_per_round_range() -> None:
    """Each round runs concurrency 1 and N side by side: their ratio per round
    shows how far a shared machine moves it; the headline is the medians' ratio."""
    from bench import concurrency

    c = next(c for c in concurrency.CONTENDERS if c.name == "rust-cpu")
    root = str(concurrency.ROOT)
    one = [{"ok": True, "throughput": t} for t in (800.0, 900.0, 700.0)]
    many = [{"ok": True, "throughput": t} for t in (1500.0, 1620.0, 1400.0)]
    row = concurrency.summarize([c], {(root, c.name, 1): one, (root, c.name, c.n): many})["rows"][0]
    assert row["ratio"] == 1500.0 / 800.0
    assert (row["ratio_min"], row["ratio_max"]) == (1620.0 / 900.0, 1400.0 / 700.0)
    assert row["status"] == "PASS"


def test_a_target_gives_its_ratio_round_by_round() -> None:
    """Round i of the subject and of the divisor ran side by side: their ratio
    per round is the spread a shared machine put on the ratio of medians."""
    figs = _figures(**{"dispatcher-rust": 1, "lean-loop": 1})
    pinned = figs["throughput"]["pinned"]
    pinned["dispatcher-rust"] = {"median": 14_000.0, "samples": [14_000.0, 15_000.0, 10_000.0]}
    pinned["lean-loop"] = {"median": 16_000.0, "samples": [16_000.0, 20_000.0, 14_000.0]}
    row = {r["id"]: r for r in targets.evaluate(figs)}["tp-rust-vs-lean"]
    assert row["value"] == pytest.approx(14 / 16)
    assert row["by_round"] == pytest.approx((10 / 14, 14 / 16))


def test_cold_ab_takes_a_config_of_any_name(tmp_path: Path) -> None:
    """The function folder it builds holds the config as dispatcher.yaml (what
    the deployed bootstrap reads), the folder's other files linked beside it."""
    from bench.cold_ab import task_root_copy

    src = tmp_path / "configs"
    src.mkdir()
    (src / "exec-script.yaml").write_text("workers: {}\n")
    (src / "dispatcher.yaml").write_text("not this one\n")
    (src / "script.sh").write_text("echo\n")
    (src / "old.yaml.cache").write_text("stale\n")
    task = task_root_copy(src / "exec-script.yaml", tmp_path / "task")
    assert sorted(p.name for p in task.iterdir()) == ["dispatcher.yaml", "script.sh"]
    assert (task / "dispatcher.yaml").read_text() == "workers: {}\n" and not (task / "dispatcher.yaml").is_symlink()
    assert (task / "script.sh").is_symlink()
