#!/bin/bash
# A long-lived bash worker (protocol: jsonl) using the shell helper: started
# once, it answers every invocation with one jq run.
. "$(dirname "$0")/../../adapters/shell/dispatcher.sh"

command -v jq >/dev/null || { dispatcher_init_error Runtime.MissingDependency "jq is not installed (apt-get install jq)"; exit 1; }
dispatcher_ready

while dispatcher_next; do
    if reply=$(printf '%s' "$DISPATCHER_EVENT" | jq -ce '{message: "Hello, \(.name // "world")!"}' 2>&1); then
        dispatcher_result "$reply"
    else
        dispatcher_error Function.BadEvent "expected a JSON object like {\"name\": \"Ada\"}: $reply"
    fi
done
