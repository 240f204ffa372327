#!/bin/bash
# jsonl shell worker for tests/test_containment.py: each invocation runs
# `sleep` in the foreground (a child of the worker, in its group) and a
# setsid()ed one in the background, after writing every pid to $PIDS.
. "$(dirname "$0")/../../../adapters/shell/dispatcher.sh"
dispatcher_ready
while dispatcher_next; do
    setsid sleep 300 &
    detached=$!
    sleep 300 &
    child=$!
    echo "$$ $child $detached" >> "$PIDS"
    wait "$child"
    dispatcher_result '{}'
done
