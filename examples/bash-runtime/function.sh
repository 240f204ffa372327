# The handler file of the bash runtime: `handler` reads the event on stdin and
# writes the response on stdout.  It echoes the event, except:
#   {"fail": "text", ...}   fails with "text" (the runtime posts it to /error)
#   {"sleep": N, ...}       sleeps N seconds first
# With $HANDLER_LOG set, it appends "begin" and "end" lines around its work.
function handler () {
  local event
  event=$(mktemp)
  cat > "$event"
  [ -z "${HANDLER_LOG:-}" ] || echo begin >> "$HANDLER_LOG"
  case "$(head -c 9 "$event")" in
    '{"fail":'*) jq -j .fail "$event" >&2; rm -f "$event"; return 1 ;;
    '{"sleep":'*) sleep "$(jq .sleep "$event")" ;;
  esac
  cat "$event"
  rm -f "$event"
  [ -z "${HANDLER_LOG:-}" ] || echo end >> "$HANDLER_LOG"
}
