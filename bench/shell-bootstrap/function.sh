# The tutorial's function.sh, with a handler that echoes the event as JSON.
function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" | jq -c .
}
