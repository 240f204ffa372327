"""dispatcher/msgpack_lite.py against msgpack itself, and the codec switch in frames.py.

The subset must give msgpack's bytes and msgpack's values, or say Unsupported
(then msgpack handles the input); frames.py reads a cold start's frames with
it and imports msgpack after the first answer.  Every shared wire vector is
decoded by a fresh interpreter's codec, i.e. through the early path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher import msgpack_lite as lite

ROOT = Path(__file__).resolve().parent.parent
VECTORS = Path(__file__).resolve().parent / "vectors"

scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text() | st.binary() | st.sampled_from([0, 127, 128, 255, 256, 65535, 65536, -32, -33, -128, -129, 2**32, -(2**31) - 1])
    | st.text(min_size=31, max_size=33) | st.binary(min_size=255, max_size=257)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=20) | st.dictionaries(st.text(max_size=8) | st.integers(-5, 5), inner, max_size=20),
    max_leaves=60,
)


def c_unpack(data: bytes) -> object:
    return msgpack.unpackb(data, raw=False, unicode_errors="replace", strict_map_key=False)


@given(values)
def test_packs_as_msgpack_packs(value: object) -> None:
    assert lite.packb(value) == msgpack.packb(value, use_bin_type=True)


@given(values)
def test_reads_what_msgpack_reads(value: object) -> None:
    data = msgpack.packb(value, use_bin_type=True)
    if len(data) > lite.MAX_READ:
        with pytest.raises(lite.Unsupported):
            lite.unpackb(data)
        return
    assert lite.unpackb(data) == c_unpack(data)


@given(st.binary(max_size=64))
def test_any_bytes_read_as_msgpack_or_left_to_it(data: bytes) -> None:
    try:
        got = lite.unpackb(data)
    except lite.Unsupported:
        return
    assert got == c_unpack(data)  # msgpack accepts them too, with the same value


@pytest.mark.parametrize("data", [
    b"\xa5h\xffllo",  # bad UTF-8: replaced, as msgpack's unicode_errors="replace" does
    b"\x82\xa1a\x01\xa1a\x02",  # a repeated key: the last one wins
    b"\x81\x01\xc4\x00",  # an int key (strict_map_key=False)
    b"\xdc\x00\x02\xc2\xc3", b"\xde\x00\x01\xa1k\xc0", b"\xd9\x01x",  # the wide forms of short things
    b"\xd3\xff\xff\xff\xff\xff\xff\xff\xff", b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
])
def test_edge_cases_read_as_msgpack_reads_them(data: bytes) -> None:
    assert lite.unpackb(data) == c_unpack(data)


@pytest.mark.parametrize("data", [
    b"", b"\xa5abc", b"\xc4\x05ab", b"\x92\x01", b"\x81\xa1a", b"\x01\x02",  # truncated, trailing
    b"\xcb" + bytes(8), b"\xd4\x01\x00", b"\xc1",  # a float, an ext type, the unused code
    b"\x81\x91\x01\x01",  # an unhashable key
    b"\x91" * 100 + b"\x01",  # nesting deeper than the subset's
    b"\xc6" + (lite.MAX_READ + 1).to_bytes(4, "big") + bytes(lite.MAX_READ + 1),  # over 64 KiB
])
def test_what_is_left_to_msgpack(data: bytes) -> None:
    with pytest.raises(lite.Unsupported):
        lite.unpackb(data)


class MyInt(int):
    pass


@pytest.mark.parametrize("value", [1.5, msgpack.ExtType(1, b"x"), 2**64, -(2**63) - 1, "\ud800", MyInt(3), [{"a": 1.5}]])
def test_values_left_to_msgpack(value: object) -> None:
    with pytest.raises(lite.Unsupported):
        lite.packb(value)


SWITCH = r"""
import json, sys
from dispatcher import frames
from dispatcher.frames import FrameDecoder, encode, encode_invoke
out = {"at_import": "msgpack" in sys.modules}
dec = FrameDecoder()
def frame(msg):
    return encode(msg)
dec.feed(frame({"type": "ready", "protocol": 1}) + frame({"type": "result", "id": "a", "payload": b"1"}))
out["ready"] = dec.next()["type"]
out["result"] = dec.next()["payload"].decode()
out["invoke"] = b"".join(bytes(b) for b in encode_invoke("r", b"{}", 5, "arn", None, None, None, None)).hex()
out["after_first_answer"] = "msgpack" in sys.modules
dec.feed(frame({"type": "result", "id": "b", "payload": b"2"}))
out["second"] = dec.next()["payload"].decode()
out["after_second"] = "msgpack" in sys.modules and frames._unpack is frames._unpack_c
print(json.dumps(out))
"""


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


def test_msgpack_is_imported_after_the_first_answer() -> None:
    done = _fresh(SWITCH)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    expected_invoke = msgpack.packb({"type": "invoke", "id": "r", "deadline_ms": 5, "function_arn": "arn", "trace_id": None,
                                     "client_context": None, "cognito_identity": None, "tenant_id": None, "payload": b"{}"},
                                    use_bin_type=True)
    assert out == {"at_import": False, "ready": "ready", "result": "1", "after_first_answer": False, "second": "2",
                   "after_second": True, "invoke": (len(expected_invoke).to_bytes(4, "big") + expected_invoke).hex()}


def test_every_vector_reads_the_same_through_the_early_codec() -> None:
    """Each vector's first frame in a fresh interpreter (msgpack_lite, or msgpack
    for what the subset leaves out) against msgpack's reading in this one."""
    from dispatcher import frames
    from dispatcher.frames import FrameDecoder, FrameError

    names = sorted(p.stem for p in VECTORS.glob("*.bin"))
    code = r"""
import json, sys
from dispatcher.frames import FrameDecoder, FrameError
out = {}
for path in sys.argv[1:]:
    dec = FrameDecoder(1 << 24)
    dec.feed(open(path, "rb").read())
    try:
        msg = dec.next()
        out[path] = repr(msg)
    except FrameError as exc:
        out[path] = "error " + exc.code
    from dispatcher import frames
    frames._early_done, frames._unpack = False, frames._unpack_early  # each vector as a first frame
    frames.msgpack = None
print(json.dumps(out))
""".replace("import json, sys", "import json, sys\nsys.argv = [sys.argv[0]] + %r" % [str(VECTORS / f"{n}.bin") for n in names])
    done = _fresh(code)
    assert done.returncode == 0, done.stderr
    early = json.loads(done.stdout)
    frames._load()
    for name in names:
        path = str(VECTORS / f"{name}.bin")
        dec = FrameDecoder(1 << 24)
        dec.feed(Path(path).read_bytes())
        try:
            expected = repr(dec.next())
        except FrameError as exc:
            expected = "error " + exc.code
        assert early[path] == expected, name



# A worker that answers each invocation with whether msgpack's C module is
# mapped in its parent, the supervisor, at that moment.
PARENT_PROBE = r"""
import os, struct, sys
import msgpack
def send(msg):
    body = msgpack.packb(msg, use_bin_type=True)
    sys.stdout.buffer.write(struct.pack(">I", len(body)) + body)
    sys.stdout.buffer.flush()
send({"type": "ready", "protocol": 1})
while True:
    head = sys.stdin.buffer.read(4)
    if len(head) < 4:
        break
    msg = msgpack.unpackb(sys.stdin.buffer.read(struct.unpack(">I", head)[0]), raw=False)
    with open("/proc/%d/maps" % os.getppid()) as f:
        mapped = "_cmsgpack" in f.read()
    send({"type": "result", "id": msg["id"], "payload": b"true" if mapped else b"false"})
"""


def test_the_supervisor_loads_msgpack_after_its_first_answer(tmp_path: Path) -> None:
    """In the real supervisor: msgpack's C module is not loaded while the first
    invocation runs, and is from the third on (frames loads it when the reply
    to the second is read; the steady state serves from then on)."""
    from harness import Function, write_config

    probe = tmp_path / "probe.py"
    probe.write_text(PARENT_PROBE)
    fn = Function(tmp_path, write_config(tmp_path, [sys.executable, str(probe)]))
    try:
        seen = [fn.invoke({}) for _ in range(4)]
        assert all(r.outcome == "success" for r in seen), fn.logs()
        bodies = [r.body for r in seen]
        # The second may come before the load (its event can arrive with the
        # first post's answer); by the third the reply to the second has been read.
        assert bodies[0] == b"false" and bodies[2:] == [b"true", b"true"], bodies
    finally:
        fn.close()
