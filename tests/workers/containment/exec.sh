#!/bin/sh
# exec script for tests/test_containment.py: started with posix_spawn (no
# PDEATHSIG), it starts a child and a setsid()ed one, writes every pid to
# $PIDS and waits.
setsid sleep 300 &
detached=$!
sleep 300 &
child=$!
echo "$$ $child $detached" >> "$PIDS"
wait "$child"
echo '{}'
