"""The supervisor's decisions (dispatcher/core.py) against a fake clock, no
processes: one test per row of docs/faults.md that the core decides (rows
about bytes on pipes, signals to process groups or what is posted on a
rejected post belong to the driver and keep their real-process tests), and
the concurrency rows.  Times are fake; each test runs in microseconds."""

from __future__ import annotations

import math

import pytest

from core_sim import Sim, invocation
from dispatcher import errors as E
from dispatcher.answers import MAX_RESPONSE
from dispatcher.core_table import SLOT_TABLE, WORKER_TABLE, CoreBug, Post, Send, Spawn, Stop


def started(slots: int = 1, features: tuple[str, ...] = (), **opts: object) -> Sim:
    sim = Sim(slots, **opts)
    sim.start(features)
    for wid in sim.spawned[1:]:
        sim.ready(wid, features)
    return sim


# == the worker misbehaves during an invocation: one table ==========================
# (fault, what the worker does, errorType posted, words in the message, worker replaced)
FAULTS = [
    ("exit 3", lambda s: s.exited(0, "exit status 3"), E.EXIT_ERROR, "'w' exited with status 3 during the invocation", True),
    ("exit 0", lambda s: s.exited(0, "exit status 0"), E.EXIT_ERROR, "exited with status 0 during the invocation", True),
    ("SIGKILL", lambda s: s.exited(0, "killed by signal 9 (SIGKILL)"), E.EXIT_ERROR, "was killed by signal 9 (SIGKILL)", True),
    ("SIGSEGV + stderr tail", lambda s: s.exited(0, "killed by signal 11 (SIGSEGV)", tail="boom"), E.EXIT_ERROR,
     "killed by signal 11 (SIGSEGV) during the invocation; last stderr lines:\nboom", True),
    ("hang", lambda s: s.wait(2950), E.SANDBOX_TIMEDOUT, "Task timed out after 3.00 seconds", True),
    ("zero-length frame", lambda s: s.broke(0, "malformed frame from the worker (empty_frame): 0"), E.PROTOCOL_ERROR,
     "worker 'w': malformed frame from the worker (empty_frame)", True),
    ("prints to stdout", lambda s: s.broke(0, "the worker printed to stdout: 'hi'"), E.PROTOCOL_ERROR, "printed to stdout", True),
    ("wrong id", lambda s: s.reply(0, "other"), E.PROTOCOL_ERROR, "replied for invocation 'other' while 'r1' was in flight", True),
    ("unknown type", lambda s: s.call("worker_message", 0, {"type": "ready"}), E.PROTOCOL_ERROR,
     "sent `ready` during an invocation", True),
    ("closes stdout", lambda s: s.broke(0, "the worker closed its stdout while still running"), E.PROTOCOL_ERROR,
     "closed its stdout while still running", True),
    ("result_nan", lambda s: s.reply(0, "r1", math.nan), E.MARSHAL_ERROR, "cannot be converted to JSON", False),
    ("big_result", lambda s: s.reply(0, "r1", b"x" * (MAX_RESPONSE + 1)), E.RESPONSE_SIZE_TOO_LARGE, "exceeded maximum", False),
    ("error frame", lambda s: s.error(0, "r1"), "my_crate::BadInput", "bad value", False),
]


@pytest.mark.parametrize("fault, act, etype, words, replaced", FAULTS, ids=[f[0] for f in FAULTS])
def test_worker_fault_during_an_invocation(fault, act, etype, words, replaced) -> None:  # type: ignore[no-untyped-def]
    sim = started()
    sim.event(0, "r1")
    act(sim)
    assert sim.type_of("r1") == etype
    assert words in sim.message_of("r1")
    post = sim.index(lambda a: isinstance(a, Post))
    assert sim.actions[post].then_next  # GET /next goes out with the answer
    if replaced:
        stop = sim.index(lambda a: isinstance(a, Stop))
        assert post < stop, "the answer is posted before the worker is stopped"
        assert sim.stopped == [(0, False)]
        assert sim.spawned == [0, 1]  # a fresh worker starts at once
        sim.ready(1)
    else:
        assert sim.stopped == [] and sim.spawned == [0]
    sim.event(0, "r2")
    assert sim.worker_of("r2") == (1 if replaced else 0)
    sim.reply(sim.worker_of("r2"), "r2")
    assert sim.type_of("r2") == "success"


def test_hang_is_answered_timeout_margin_before_the_deadline() -> None:
    sim = started(timeout_margin=0.25)
    sim.event(0, "r1", timeout=1.0)
    sim.wait(749)
    assert "r1" not in sim.posts
    sim.wait(2)
    assert sim.type_of("r1") == E.SANDBOX_TIMEDOUT and sim.post_times["r1"] == pytest.approx(0.75)
    assert sim.posts["r1"].header_type == E.INVOKE_TIMEOUT
    assert sim.stopped == [(0, False)]  # stopped hard: a hung worker gets no shutdown frame


def test_function_timeout_from_the_environment_is_the_one_reported() -> None:
    sim = started(function_timeout=7.0)
    sim.event(0, "r1", timeout=1.0)
    sim.wait(1000)
    assert sim.message_of("r1") == "Task timed out after 7.00 seconds"


def test_slow_reply_just_before_the_deadline_is_the_answer() -> None:
    sim = started()
    sim.event(0, "r1", timeout=1.0)
    sim.wait(899)
    sim.reply(0, "r1", b"late but fine")
    sim.wait(500)
    assert sim.posts["r1"].body == b"late but fine" and sim.stopped == []


# == starting ==================================================================
def test_init_failures() -> None:
    for msg, etype in [
        ({"type": "init_error", "error_type": "Function.Broken", "error_message": "no config", "stack_trace": []}, "Function.Broken"),
        ({"type": "result", "id": "x", "payload": b""}, E.PROTOCOL_ERROR),
    ]:
        sim = Sim()
        sim.run(sim.core.start(sim.t))
        sim.call("worker_message", 0, msg)
        assert sim.exit == 1 and sim.init_error is not None and sim.init_error.error_type == etype
        assert not sim.served and sim.waiting == set()
    sim = Sim()
    sim.run(sim.core.start(sim.t))
    sim.broke(0, "the worker printed to stdout: 'hello'")
    assert sim.init_error.error_type == E.PROTOCOL_ERROR and "printed to stdout" in sim.init_error.message
    sim = Sim(startup_timeout=1.5)
    sim.run(sim.core.start(sim.t))
    sim.wait(1499)
    assert sim.exit is None
    sim.wait(2)
    assert sim.init_error.error_type == E.INIT_TIMEOUT and "startup_timeout (1.5s)" in sim.init_error.message
    assert sim.stopped == [(0, False)]


def test_exit_before_ready_at_init() -> None:
    sim = Sim()
    sim.run(sim.core.start(sim.t))
    sim.exited(0, "exit status 4", tail="ImportError: x")
    assert sim.init_error.error_type == E.EXIT_ERROR
    assert sim.init_error.message == "worker 'w' exited with status 4 before it was ready; last stderr lines:\nImportError: x"


def test_command_not_found_is_invalid_entrypoint() -> None:
    sim = Sim()
    sim.run(sim.core.start(sim.t))
    sim.call("spawn_failed", 0, "worker 'w': cannot execute 'nope': No such file or directory")
    assert sim.init_error.error_type == E.INVALID_ENTRYPOINT and sim.exit == 1


def test_serving_starts_with_ready() -> None:
    sim = Sim()
    sim.run(sim.core.start(sim.t))
    assert sim.spawned == [0] and not sim.served and sim.waiting == set()
    sim.ready(0)
    assert sim.served and sim.waiting == {0}


# == the worker dies outside an invocation ======================================
def test_exit_while_idle_next_event_gets_a_fresh_worker() -> None:
    sim = started()
    sim.exited(0, "exit status 0")
    assert any("while idle" in line for line in sim.logs)
    assert sim.spawned == [0]  # lazily: a worker that dies at every start would spin
    sim.event(0, "r1")
    assert sim.spawned == [0, 1] and sim.sent == []
    sim.ready(1)
    sim.reply(1, "r1")
    assert sim.type_of("r1") == "success"


def test_exit_after_reply_with_next_invoke_unread_is_handed_over() -> None:
    sim = started()
    sim.event(0, "r1")
    sim.exited(0, "exit status 0", consumed=False)
    assert "r1" not in sim.posts and sim.stopped == [(0, False)] and sim.spawned == [0, 1]
    assert any("handing the event to a fresh worker" in line for line in sim.logs)
    sim.ready(1)
    assert sim.sent == [(0, "r1"), (1, "r1")]
    sim.reply(1, "r1")
    assert sim.type_of("r1") == "success"


def test_undelivered_twice_in_a_row_is_an_exit_error() -> None:
    sim = started()
    sim.event(0, "r1")
    sim.exited(0, "closed its stdin", consumed=False)
    sim.ready(1)
    sim.exited(1, "exit status 0", consumed=False)
    assert sim.type_of("r1") == E.EXIT_ERROR and "died before receiving the event, twice in a row" in sim.message_of("r1")


def test_exit_right_after_ready_every_start_is_not_a_crash_loop() -> None:
    """Each start reached `ready` (docs/faults.md note 6): none counts as a failed
    start; each event is handed over once, then answered ExitError."""
    sim = started()
    sim.exited(0, "exit status 0")  # while idle
    for i in range(6):
        rid = f"r{i}"
        sim.event(0, rid)
        for _ in range(2):
            wid = sim.spawned[-1]
            sim.ready(wid)
            sim.exited(wid, "exit status 0", consumed=False)
        assert sim.type_of(rid) == E.EXIT_ERROR
    assert sim.exit is None and sim.core.restarts.attempts == 0
    assert not any("failed to start" in line for line in sim.logs)


def test_deadline_while_the_replacement_starts() -> None:
    """fixed 5: Sandbox.Timedout, the starting worker is kept and its startup_timeout runs from its spawn."""
    sim = started(startup_timeout=2.0)
    sim.event(0, "r1", timeout=0.3)
    sim.wait(300)
    assert sim.type_of("r1") == E.SANDBOX_TIMEDOUT and sim.spawned == [0, 1]
    sim.event(0, "r2", timeout=1.0)  # arrives while worker 1 still starts
    sim.wait(950)
    assert sim.type_of("r2") == E.SANDBOX_TIMEDOUT and sim.message_of("r2") == "Task timed out after 1.00 seconds"
    assert (1, False) not in sim.stopped and sim.core.restarts.attempts == 0
    sim.event(0, "r3")
    sim.ready(1)
    sim.reply(1, "r3")
    assert sim.type_of("r3") == "success"


def test_crash_loop_answers_at_once_backs_off_then_exits() -> None:
    sim = started()
    sim.event(0, "r0")
    sim.exited(0, "exit status 3")
    assert sim.type_of("r0") == E.EXIT_ERROR
    answered_at_once = 0
    for i in range(1, 40):
        if sim.exit is not None:
            break
        rid = f"r{i}"
        sim.event(0, rid)
        if rid in sim.posts:  # backing off: answered at once, never held
            answered_at_once += 1
            assert sim.post_times[rid] == sim.t and "before it was ready" in sim.message_of(rid)
        else:
            sim.exited(sim.spawned[-1], "exit status 4")
            assert sim.type_of(rid) == E.EXIT_ERROR and "exited with status 4 before it was ready" in sim.message_of(rid)
        sim.wait(60)
    assert sim.exit == 1 and answered_at_once > 0
    assert sim.logs[-1].startswith("fatal: worker 'w' failed to start 5 times in a row; last error:")
    assert any("failed to start (1 in a row)" in line for line in sim.logs)


# == protocol after the reply ======================================================
def test_two_replies_first_stands_worker_replaced_after_posting() -> None:
    sim = started()
    sim.event(0, "r1")
    sim.reply(0, "r1", b'"one"')
    sim.reply(0, "r1", b'"two"')
    assert sim.posts["r1"].body == b'"one"'
    assert sim.index(lambda a: isinstance(a, Post)) < sim.index(lambda a: isinstance(a, Stop))
    assert any("broke the protocol" in line for line in sim.logs) and sim.stopped == [(0, False)]
    assert sim.spawned == [0, 1]


def test_stray_reply_after_the_next_invoke_answers_that_event() -> None:
    sim = started()
    sim.event(0, "r1")
    sim.reply(0, "r1")
    sim.event(0, "r2")
    sim.reply(0, "r1")  # the second reply to r1 arrives now
    assert sim.type_of("r2") == E.PROTOCOL_ERROR and "replied for invocation 'r1' while 'r2' was in flight" in sim.message_of("r2")


def test_reply_before_any_invocation_replaces_the_worker() -> None:
    sim = started()
    sim.reply(0, "ghost")
    assert sim.stopped == [(0, False)] and any("with no invocation in flight" in line for line in sim.logs)
    assert sim.posts == {}
    sim.event(0, "r1")
    sim.ready(sim.spawned[-1])
    sim.reply(sim.spawned[-1], "r1")
    assert sim.type_of("r1") == "success"


def test_broken_after_a_session_answered_is_replaced() -> None:
    """A jsonl session answers a bad line itself and reports `broken` afterwards."""
    sim = started()
    sim.event(0, "r1")
    sim.error(0, "r1", E.PROTOCOL_ERROR)
    sim.broke(0, "replied with a line that is not JSON")
    assert sim.type_of("r1") == E.PROTOCOL_ERROR and sim.stopped == [(0, False)]


# == recycling =================================================================
def test_max_invocations_recycles_between_invocations() -> None:
    sim = started(max_invocations=2)
    for rid in ("r1", "r2"):
        sim.event(0, rid)
        sim.reply(0, rid)
    assert sim.stopped == [(0, True)] and sim.spawned == [0, 1]
    assert any("max_invocations (2) reached" in line for line in sim.logs)
    assert sim.index(lambda a: isinstance(a, Post) and a.invocation.request_id == "r2") < sim.index(lambda a: isinstance(a, Stop))


def test_max_rss_recycles_after_the_answer() -> None:
    sim = started(max_rss=100 << 20)
    sim.event(0, "r1")
    sim.reply(0, "r1")
    assert sim.rss_checks == [0]
    sim.call("rss_measured", 0, 50 << 20)
    assert sim.stopped == []
    sim.event(0, "r2")
    sim.reply(0, "r2")
    sim.call("rss_measured", 0, 150 << 20)
    assert sim.type_of("r2") == "success" and sim.stopped == [(0, True)] and sim.spawned == [0, 1]
    assert any("over max_rss (102400 KiB)" in line for line in sim.logs)


# == shutdown ==================================================================
def test_sigterm_while_idle() -> None:
    sim = started()
    sim.t = 5.0
    sim.call("signal", "SIGTERM")
    assert sim.exit == 0 and sim.core.stop_at == pytest.approx(5.3)


def test_sigterm_during_init() -> None:
    sim = Sim()
    sim.run(sim.core.start(sim.t))
    sim.call("signal", "SIGTERM")
    assert sim.exit == 0 and sim.init_error is None


def test_sigterm_with_an_invocation_in_flight() -> None:
    sim = started(shutdown_grace=0.3)
    sim.event(0, "r1", timeout=10.0)
    sim.call("signal", "SIGTERM")
    assert sim.exit is None
    sim.wait(199)
    assert "r1" not in sim.posts
    sim.wait(2)  # a third of the grace is kept to stop the worker
    assert sim.type_of("r1") == E.EXIT_ERROR and "runtime shutting down" in sim.message_of("r1")
    post = next(a for a in sim.actions if isinstance(a, Post))
    assert post.then_next is False and sim.exit == 0


def test_sigterm_reply_within_the_budget_is_posted() -> None:
    sim = started()
    sim.event(0, "r1")
    sim.call("signal", "SIGTERM")
    sim.wait(50)
    sim.reply(0, "r1")
    assert sim.type_of("r1") == "success" and sim.exit == 0
    assert 0 not in sim.waiting  # no GET /next after the answer


# == the Runtime API misbehaves ==================================================
def test_next_unreachable_retries_five_times_then_exits() -> None:
    sim = started()
    sim.waiting.clear()
    sim.call("next_failed", 0, "Connection refused")
    for _ in range(10):
        if sim.exit is not None:
            break
        sim.wait(3000)
        assert sim.waiting == {0}
        sim.waiting.clear()
        sim.call("next_failed", 0, "Connection refused")
    assert sim.exit == 1
    assert sim.logs[-1] == "fatal: the Runtime API at 127.0.0.1:9001 is unreachable after 5 retries: Connection refused"
    assert [line for line in sim.logs if "retry" in line][0] == "GET /next failed (Connection refused); retry 1/5"


def test_next_backoff_doubles_and_recovers() -> None:
    sim = started()
    sim.waiting.clear()
    times = []
    for _ in range(3):
        sim.call("next_failed", 0, "reset")
        t0 = sim.t
        while 0 not in sim.waiting:
            sim.wait(1)
        times.append(round((sim.t - t0) * 1000))
        sim.waiting.clear()
    assert times == [100, 200, 400]
    sim.waiting.add(0)
    sim.event(0, "r1")
    assert sim.core.slots[0].attempts == 0


def test_sigterm_while_next_backs_off() -> None:
    sim = started()
    sim.waiting.clear()
    sim.call("next_failed", 0, "Connection refused")
    sim.call("signal", "SIGTERM")
    assert sim.exit == 0


def test_500_on_next_exits_and_400_is_retried() -> None:
    sim = started()
    sim.waiting.clear()
    sim.call("next_refused", 0, 400, "bad")
    assert sim.exit is None and "GET /next answered 400: bad" in sim.logs
    sim.call("next_refused", 0, 500, "boom")
    assert sim.exit == 1 and sim.logs[-1] == "fatal: GET /next answered 500: boom (the Runtime API asks the runtime to exit)"


def test_next_body_cut_short_is_unmarshal_error() -> None:
    sim = started()
    sim.waiting.clear()
    sim.call("next_cut_short", 0, invocation("r1"), "Content-Length 1000")
    assert sim.type_of("r1") == E.UNMARSHAL_ERROR and "Content-Length 1000" in sim.message_of("r1")
    assert sim.waiting == {0} and sim.sent == []


# == concurrency ===============================================================
def test_pool_of_n_workers_one_invocation_each() -> None:
    sim = Sim(4)
    sim.start()
    assert sim.spawned == [0, 1, 2, 3] and sim.waiting == {0, 1, 2, 3}  # GET /next on every slot at once
    for wid in (1, 2, 3):
        sim.ready(wid)
    for slot in range(4):
        sim.event(slot, f"r{slot}")
    assert sorted(w for w, _ in sim.sent) == [0, 1, 2, 3]
    for slot in (3, 1, 0, 2):
        sim.reply(sim.worker_of(f"r{slot}"), f"r{slot}")
    assert all(sim.type_of(f"r{i}") == "success" for i in range(4))


def test_pool_slot_waits_for_a_starting_worker() -> None:
    sim = Sim(2)
    sim.start()
    sim.event(0, "a")
    sim.event(1, "b")  # worker 1 has not sent `ready` yet
    assert sim.sent == [(0, "a")]
    sim.ready(1)
    assert sim.sent == [(0, "a"), (1, "b")]


def test_crash_in_one_slot_costs_only_its_invocation() -> None:
    sim = started(4)
    for slot in range(4):
        sim.event(slot, f"r{slot}")
    victim = sim.worker_of("r2")
    sim.exited(victim, "killed by signal 9 (SIGKILL)")
    assert list(sim.posts) == ["r2"] and sim.type_of("r2") == E.EXIT_ERROR
    assert sim.stopped == [(victim, False)] and sim.spawned[-1] == 4
    for slot in (0, 1, 3):
        sim.reply(sim.worker_of(f"r{slot}"), f"r{slot}")
        assert sim.type_of(f"r{slot}") == "success"
    sim.ready(4)
    for slot, rid in ((2, "r4"), (0, "r5"), (1, "r6"), (3, "r7")):
        sim.event(slot, rid)
    assert victim not in {sim.worker_of(r) for r in ("r4", "r5", "r6", "r7")}
    assert 4 in {sim.worker_of(r) for r in ("r4", "r5", "r6", "r7")}


def test_hang_in_one_slot_is_answered_at_its_deadline_others_go_on() -> None:
    sim = started(4)
    sim.event(0, "hang", timeout=1.0)
    for i in range(10):
        slot = 1 + i % 3
        sim.event(slot, f"q{i}")
        sim.wait(50)
        sim.reply(sim.worker_of(f"q{i}"), f"q{i}")
    assert "hang" not in sim.posts and all(sim.type_of(f"q{i}") == "success" for i in range(10))
    sim.wait(500)
    assert sim.type_of("hang") == E.SANDBOX_TIMEDOUT and sim.post_times["hang"] == pytest.approx(0.9)
    assert sim.stopped == [(sim.worker_of("hang"), False)]


def test_multiplexed_worker_takes_n_replies_in_any_order() -> None:
    sim = Sim(3)
    sim.start(("multiplex",))
    assert sim.spawned == [0]  # one worker is the whole pool
    for slot in range(3):
        sim.event(slot, f"r{slot}")
    assert sim.sent == [(0, "r0"), (0, "r1"), (0, "r2")]
    for rid in ("r2", "r0", "r1"):
        sim.reply(0, rid)
    assert [sim.type_of(f"r{i}") for i in range(3)] == ["success"] * 3
    assert sim.stopped == []


def test_multiplexed_worker_missing_one_deadline_drains_then_stops() -> None:
    sim = Sim(3)
    sim.start(("multiplex",))
    sim.event(0, "slow", timeout=0.5)
    sim.event(1, "other", timeout=3.0)
    sim.wait(400)
    assert sim.type_of("slow") == E.SANDBOX_TIMEDOUT
    assert sim.stopped == [] and sim.spawned == [0, 1]  # still answering "other"; a fresh worker takes new events
    sim.ready(1, ("multiplex",))
    sim.event(0, "new")
    assert sim.worker_of("new") == 1
    sim.reply(0, "slow")  # late: dropped, logged
    assert any("after its deadline" in line for line in sim.logs)
    sim.reply(0, "other")
    assert sim.type_of("other") == "success" and sim.stopped == [(0, False)]


def test_multiplexed_worker_crash_answers_everything_it_had_in_flight() -> None:
    sim = Sim(3)
    sim.start(("multiplex",))
    for slot in range(3):
        sim.event(slot, f"r{slot}")
    sim.exited(0, "killed by signal 11 (SIGSEGV)")
    assert [sim.type_of(f"r{i}") for i in range(3)] == [E.EXIT_ERROR] * 3
    assert sim.stopped == [(0, False)] and sim.spawned == [0, 1]


def test_multiplexed_bad_frame_answers_everything_in_flight() -> None:
    sim = Sim(2)
    sim.start(("multiplex",))
    sim.event(0, "a")
    sim.event(1, "b")
    sim.reply(0, "zzz")
    assert sim.type_of("a") == sim.type_of("b") == E.PROTOCOL_ERROR
    assert "not in flight" in sim.message_of("a")


def test_sigterm_drains_every_slot_within_one_budget() -> None:
    sim = started(3)
    for slot in range(3):
        sim.event(slot, f"r{slot}", timeout=10.0)
    sim.call("signal", "SIGTERM")
    sim.reply(sim.worker_of("r1"), "r1")
    sim.wait(250)
    assert sim.type_of("r1") == "success"
    assert sim.type_of("r0") == sim.type_of("r2") == E.EXIT_ERROR and sim.exit == 0
    assert sim.post_times["r0"] == pytest.approx(0.2)


def test_event_arriving_during_shutdown_still_gets_its_answer() -> None:
    sim = started(2)
    sim.event(0, "r0", timeout=10.0)
    sim.call("signal", "SIGTERM")
    sim.event(1, "late")  # its GET /next was already out
    assert sim.type_of("late") == E.EXIT_ERROR


def test_max_rss_is_summed_over_the_pool() -> None:
    sim = started(2, max_rss=100 << 20)
    sim.event(0, "a")
    sim.event(1, "b")
    sim.reply(sim.worker_of("a"), "a")
    sim.call("rss_measured", sim.worker_of("a"), 120 << 20)  # two workers, 60 MB each
    assert sim.stopped == [(sim.worker_of("a"), True)]
    assert sim.worker_of("b") not in [w for w, _ in sim.stopped]


def test_restart_policy_counts_per_start_across_the_pool() -> None:
    sim = started(2)
    sim.event(0, "a")
    sim.exited(sim.worker_of("a"))
    new = sim.spawned[-1]
    sim.exited(new, "exit status 4")  # the replacement fails to start
    assert sim.core.restarts.attempts == 1 and any("failed to start (1 in a row)" in line for line in sim.logs)
    sim.event(0, "b")  # the other worker still serves
    assert sim.worker_of("b") != new


# == the tables themselves ===========================================================
def test_a_transition_not_in_the_table_is_a_bug() -> None:
    sim = started()
    with pytest.raises(CoreBug, match="not allowed in state Waiting"):
        sim.core._slot(sim.core.slots[0], next(ev for (st, ev) in SLOT_TABLE if ev.name == "replied"))


def test_tables_name_states_not_strings() -> None:
    for table in (SLOT_TABLE, WORKER_TABLE):
        for (state, event), (nxt, action) in table.items():
            assert not isinstance(state, str) and not isinstance(event, str) and not isinstance(nxt, str)
            assert isinstance(action, str)


def test_every_event_fetched_gets_exactly_one_answer_under_a_scripted_storm() -> None:
    """Random-looking but fixed history over 4 slots: every event gets one Post."""
    sim = started(4)
    n = 0
    for round_ in range(50):
        for slot in sorted(sim.waiting):
            n += 1
            sim.event(slot, f"e{n}", timeout=0.5)
        busy = [(w, r) for w, r in sim.sent if r not in sim.posts]
        for k, (w, r) in enumerate(busy):
            if w not in sim.core.workers:
                continue
            pick = (round_ * 7 + k) % 5
            if pick == 0:
                sim.reply(w, r)
            elif pick == 1:
                sim.exited(w, "exit status 1")
            elif pick == 2:
                sim.broke(w, "bad frame")
        for wid in list(sim.core.workers):
            if sim.core.workers[wid].state.name == "Starting":
                sim.ready(wid)
        sim.wait(200)
    sim.wait(1000)
    for wid in list(sim.core.workers):
        if sim.core.workers[wid].state.name == "Starting":
            sim.ready(wid)
    sim.wait(1000)
    fetched = {f"e{i}" for i in range(1, n + 1)}
    assert set(sim.posts) == fetched
    assert any(isinstance(a, Spawn) for a in sim.actions)


def test_crash_loop_exit_answers_what_other_slots_hold_and_fetches_nothing_more() -> None:
    sim = started(2)
    sim.event(0, "busy0")
    sim.event(1, "crash")
    sim.exited(sim.worker_of("crash"))  # its replacement will never start
    for i in range(20):
        if sim.exit is not None:
            break
        sim.event(1, f"e{i}")
        if f"e{i}" not in sim.posts:  # not backing off: a start was tried, and fails
            sim.exited(sim.spawned[-1], "exit status 4")
        sim.wait(500)
    assert sim.exit == 1
    last = next(a for a in reversed(sim.actions) if isinstance(a, Post) and a.slot == 1)
    assert last.then_next is False  # an event fetched after it could not be answered
    assert sim.type_of("busy0") == E.EXIT_ERROR and "the runtime is exiting" in sim.message_of("busy0")


# == the steady state: the driver's straight line (dispatcher/steady.py) =============
def test_steady_worker_only_when_one_slot_waits_and_its_worker_is_idle() -> None:
    sim = started()
    w = sim.core.steady_worker()
    assert w is not None and w.id == 0
    sim.event(0, "r1")  # in flight: not the steady state's starting point
    assert sim.core.steady_worker() is None
    sim.reply(0, "r1")
    assert sim.core.steady_worker() is w
    assert started(slots=2).core.steady_worker() is None  # one slot only
    stopping = started()
    stopping.call("signal", "SIGTERM")
    assert stopping.core.steady_worker() is None


def test_steady_worker_not_while_starting_or_after_a_failed_start() -> None:
    sim = Sim()
    sim.run(sim.core.start(0.0))
    assert sim.core.steady_worker() is None  # starting
    sim.ready(0)
    assert sim.core.steady_worker() is not None
    sim.exited(0, "exit status 1")  # dies while idle: replaced with the next event
    assert sim.core.steady_worker() is None


def test_steady_replied_counts_and_says_when_the_general_path_takes_over() -> None:
    plain = started()
    w = plain.core.steady_worker()
    assert w is not None
    assert list(plain.core.steady_replied(w, 0.0)) == [] and w.invocations == 1
    capped = started(max_invocations=2)
    w = capped.core.steady_worker()
    assert w is not None
    assert list(capped.core.steady_replied(w, 0.0)) == []
    acts = capped.run(capped.core.steady_replied(w, 0.0))
    assert any(isinstance(a, Stop) and a.polite for a in acts) and any(isinstance(a, Spawn) for a in acts)
    assert capped.core.steady_worker() is None  # the replacement is starting
    rss = started(max_rss=64 << 20)
    w = rss.core.steady_worker()
    assert w is not None
    rss.run(rss.core.steady_replied(w, 0.0))
    assert rss.rss_checks == [w.id]


def test_steady_hand_over_is_the_general_paths_send() -> None:
    """What the straight line hands back mid-invocation is exactly the Send the
    core would have made: same worker, same invocation, tagged for the log."""
    sim = started()
    w = sim.core.steady_worker()
    assert w is not None
    acts = sim.core.next_answered(0, invocation("r1"), sim.t)
    assert len(acts) == 1 and isinstance(acts[0], Send) and acts[0].worker == w.id and acts[0].tagged
    assert sim.core.wake_at() == pytest.approx(sim.t + 3.0 - 0.1)  # the deadline, margin taken off


# == the N-slot steady state (dispatcher/steady_many.py) ===============================
def test_steady_many_for_one_multiplexed_worker_or_a_pool_serving_every_slot() -> None:
    sim = started(slots=2, features=("multiplex",))
    ws = sim.core.steady_many()
    assert ws is not None and [w.capacity for w in ws] == [2]
    sim.event(0, "r1")  # one in flight: still the steady state (the line takes it over)
    assert sim.core.steady_many() == ws
    pool = Sim(3)
    pool.start()
    assert pool.core.steady_many() is None  # two of its three workers are still starting
    for wid in pool.spawned[1:]:
        pool.ready(wid)
    ws = pool.core.steady_many()
    assert ws is not None and [w.capacity for w in ws] == [1, 1, 1]
    assert not hasattr(started(slots=1).core, "steady_many")  # one slot: steady.py's line, this one is not even loaded
    assert started(slots=2, features=("multiplex",), max_rss=64 << 20).core.steady_many() is None  # checked per answer
    near = started(slots=2, features=("multiplex",), max_invocations=3)
    assert near.core.steady_many() is not None
    near.event(0, "a")
    near.reply(0, "a")
    assert near.core.steady_many() is None  # 1 answered + room for 2 reaches 3: the recycling answer is the general path's
    stopping = started(slots=2, features=("multiplex",))
    stopping.call("signal", "SIGTERM")
    assert stopping.core.steady_many() is None


def test_steady_many_not_while_a_worker_drains_after_a_missed_deadline() -> None:
    sim = started(slots=2, features=("multiplex",))
    sim.event(0, "slow", timeout=0.5)
    sim.event(1, "fine", timeout=3.0)
    sim.wait(500)  # "slow" missed its deadline: the worker drains, "fine" still runs on it
    assert sim.type_of("slow") == E.SANDBOX_TIMEDOUT
    assert sim.core.steady_many() is None


def test_steady_take_and_give_back_keep_each_deadline_and_worker() -> None:
    """The line takes the invocations in flight (slots WAITING, workers IDLE,
    the states it starts from) and gives each back with the time it was read
    and the worker it went to: the core then holds exactly what it held."""
    sim = started(slots=3, features=("multiplex",))
    sim.event(2, "first", timeout=2.0)
    sim.t += 0.25
    sim.event(0, "second", timeout=3.0)
    before = sim.core.wake_at()
    ws = sim.core.steady_many()
    assert ws is not None
    (w,) = ws
    taken = sim.core.steady_take(ws)
    assert [(sid, inv.request_id, at, wid) for sid, inv, at, wid in taken] == [(2, "first", 0.0, w.id), (0, "second", 0.25, w.id)]
    assert w.state.name == "Idle" and not w.inflight
    assert all(s.state.name == "Waiting" and s.inv is None for s in sim.core.slots)
    assert sim.core.wake_at() is None  # nothing the core must time: the line waits on the deadlines
    sim.t += 1.0
    for sid, inv, at, wid in taken:
        acts = sim.core.steady_give(sid, inv, at, wid)
        assert len(acts) == 1 and isinstance(acts[0], Send) and acts[0].worker == w.id and not acts[0].tagged
    assert sim.core.wake_at() == pytest.approx(before) == pytest.approx(2.0 - 0.1)
    assert w.inflight == {"first": 2, "second": 0}
    sim.reply(w.id, "second")
    sim.reply(w.id, "first")
    assert sim.type_of("first") == sim.type_of("second") == "success"


def test_steady_give_puts_a_pool_invocation_on_the_worker_the_line_chose() -> None:
    sim = started(slots=2)
    ws = sim.core.steady_many()
    assert ws is not None and len(ws) == 2
    second = ws[1]  # not the core's first choice
    acts = sim.core.steady_give(1, invocation("r1"), sim.t, second.id)
    assert len(acts) == 1 and acts[0].worker == second.id and acts[0].tagged  # one at a time: its lines are r1's
    assert second.inflight == {"r1": 1} and second.state.name == "Busy"
    with pytest.raises(CoreBug):  # it has no room for another
        sim.core.steady_give(0, invocation("r2"), sim.t, second.id)
    sim.reply(second.id, "r1")
    assert sim.type_of("r1") == "success"


def test_steady_take_with_nothing_in_flight_changes_nothing() -> None:
    sim = started(slots=2, features=("multiplex",))
    ws = sim.core.steady_many()
    assert ws is not None and sim.core.steady_take(ws) == [] and ws[0].state.name == "Idle"
