#!/bin/bash
# greet.sh -- print a greeting for the JSON object on stdin: {"name": "Ada"}
# gives {"message":"Hello, Ada!"}.  A plain command-line tool, written with no
# thought of Lambda:  echo '{"name":"Ada"}' | ./greet.sh
# Needs jq.  Exits 2 when the input is not a JSON object with a string name.
set -o pipefail

input=$(cat)
name=$(printf '%s' "$input" | jq -er 'if type == "object" then (.name // "world") | strings else error end' 2>/dev/null) || {
    echo "greet.sh: expected a JSON object like {\"name\": \"Ada\"}, got: $(printf '%s' "$input" | head -c 80)" >&2
    exit 2
}
letters=$(printf '%s' "$name" | tr -cd '[:alpha:]' | wc -c)
(
    cd /tmp && echo "greet.sh: greeting $name ($letters letters)" >&2
)
jq -cn --arg name "$name" '{message: "Hello, \($name)!"}'
