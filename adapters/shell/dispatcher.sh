# dispatcher.sh -- write a lambda-dispatcher jsonl worker in POSIX sh.
#
# Source it from sh, dash, bash, ksh or zsh (in sh mode); it needs jq, and
# only for errors and for context fields holding JSON escapes: an ordinary
# invocation costs one `head` and no jq.  docs/jsonl.md is the protocol.
#
#   . /path/to/adapters/shell/dispatcher.sh
#   dispatcher_ready                       # or dispatcher_init_error TYPE MESSAGE; exit 1
#   while dispatcher_next; do              # false at EOF: the supervisor asks us to stop
#       result=$(printf '%s' "$DISPATCHER_EVENT" | jq -c '{n: (.n + 1)}')
#       dispatcher_result "$result"        # JSON text; or: dispatcher_error TYPE MESSAGE [STACK_LINE...]
#   done
#
# or, with a function (or command) that prints the result JSON and exits 0:
#
#   dispatcher_run handler
#
# After dispatcher_next: DISPATCHER_EVENT (the event, compact JSON on one
# line), DISPATCHER_ID, DISPATCHER_DEADLINE_MS, DISPATCHER_FUNCTION_ARN,
# DISPATCHER_CLIENT_CONTEXT, DISPATCHER_COGNITO_IDENTITY, DISPATCHER_TENANT_ID
# (empty when absent), and _X_AMZN_TRACE_ID exported (unset when absent).
#
# Sourcing moves the protocol off fds 0 and 1: invocations are read from fd 8
# and replies written to fd 9, stdout becomes stderr (the log) and stdin
# /dev/null, so that a stray `echo` or `cat` cannot break the protocol.
# Lines are read with `head -n 1`, one buffered read, rather than `read`,
# which costs a system call per byte on a pipe; head cannot take more than
# one line because the next one only comes after our reply.

exec 8<&0 9>&1 0</dev/null 1>&2

_dispatcher_nl='
'
_dispatcher_cr=$(printf '\r')

# Splitting a megabyte line is ~5x faster for bash in the C locale (no
# multibyte decoding); byte-wise is exact here since UTF-8 never puts an
# ASCII byte inside a multibyte character.
_dispatcher_bytes() {
    _dispatcher_lc_set=${LC_ALL+set} _dispatcher_lc=${LC_ALL-}
    LC_ALL=C
}
_dispatcher_chars() {
    if [ -n "$_dispatcher_lc_set" ]; then LC_ALL=$_dispatcher_lc; else unset LC_ALL; fi
}

dispatcher_ready() {
    printf '{"ready":true}\n' >&9
}

# _dispatcher_json_error TYPE MESSAGE [STACK_LINE...]: {"type":...} in $_dispatcher_e
_dispatcher_json_error() {
    _dispatcher_et=$1 _dispatcher_em=$2
    shift 2
    _dispatcher_e=$(jq -cn --arg t "$_dispatcher_et" --arg m "$_dispatcher_em" \
        '{type: $t, message: $m, stack_trace: $ARGS.positional}' --args "$@") ||
        _dispatcher_e='{"type":"Runtime.ShellAdapterError","message":"jq could not encode the error (is jq installed?)"}'
}

dispatcher_init_error() {
    _dispatcher_json_error "$@"
    printf '{"init_error":%s}\n' "$_dispatcher_e" >&9
}

# The raw JSON token of key $1 in the line's head, up to key $2.  `"key":`
# cannot occur inside a JSON string before it, where quotes are escaped.
_dispatcher_raw() {
    _dispatcher_t=${_dispatcher_head#*\"$1\":}
    _dispatcher_t=${_dispatcher_t%%,\"$2\":*}
}

# The string token in $_dispatcher_t decoded into $_dispatcher_v ("" for null).
_dispatcher_str() {
    case $_dispatcher_t in
    null) _dispatcher_v= ; return 1 ;;
    *\\*) _dispatcher_v=$(printf '%s' "$_dispatcher_t" | jq -r .) ;;  # escapes: jq decodes
    *) _dispatcher_v=${_dispatcher_t#\"} ; _dispatcher_v=${_dispatcher_v%\"} ;;
    esac
}

dispatcher_next() {
    _dispatcher_line=$(head -n 1 <&8)
    [ -n "$_dispatcher_line" ] || return 1
    _dispatcher_bytes
    # The supervisor writes the keys in a fixed order with "event" last
    # (docs/jsonl.md), so the event is cut out as is, without parsing it.
    _dispatcher_head=${_dispatcher_line%%,\"event\":*}
    DISPATCHER_EVENT=${_dispatcher_line#*,\"event\":}
    DISPATCHER_EVENT=${DISPATCHER_EVENT%\}}
    _dispatcher_raw id deadline_ms
    _dispatcher_id_json=$_dispatcher_t
    _dispatcher_str
    DISPATCHER_ID=$_dispatcher_v
    _dispatcher_raw deadline_ms function_arn
    DISPATCHER_DEADLINE_MS=$_dispatcher_t
    _dispatcher_raw function_arn trace_id
    _dispatcher_str
    DISPATCHER_FUNCTION_ARN=$_dispatcher_v
    _dispatcher_raw trace_id client_context
    if _dispatcher_str; then
        _X_AMZN_TRACE_ID=$_dispatcher_v
        export _X_AMZN_TRACE_ID
    else
        unset _X_AMZN_TRACE_ID
    fi
    _dispatcher_raw client_context cognito_identity
    _dispatcher_str
    DISPATCHER_CLIENT_CONTEXT=$_dispatcher_v
    _dispatcher_raw cognito_identity tenant_id
    _dispatcher_str
    DISPATCHER_COGNITO_IDENTITY=$_dispatcher_v
    _dispatcher_t=${_dispatcher_head#*\"tenant_id\":}
    _dispatcher_str
    DISPATCHER_TENANT_ID=$_dispatcher_v
    _dispatcher_line=
    _dispatcher_chars
    return 0
}

# dispatcher_result JSON: the answer to the current invocation.  Line breaks
# are removed (valid JSON holds none inside its strings); "" means null.
dispatcher_result() {
    _dispatcher_bytes
    case $1 in
    *"$_dispatcher_nl"* | *"$_dispatcher_cr"*) set -- "$(printf '%s' "$1" | tr -d '\r\n')" ;;
    esac
    printf '{"id":%s,"result":%s}\n' "$_dispatcher_id_json" "${1:-null}" >&9
    _dispatcher_chars
}

# dispatcher_error TYPE MESSAGE [STACK_LINE...]: the invocation failed; the worker goes on.
dispatcher_error() {
    _dispatcher_json_error "$@"
    printf '{"id":%s,"error":%s}\n' "$_dispatcher_id_json" "$_dispatcher_e" >&9
}

# Milliseconds left before the invocation's deadline.
dispatcher_remaining_ms() {
    echo $((DISPATCHER_DEADLINE_MS - $(date +%s%3N)))
}

# dispatcher_run COMMAND [ARG...]: serve every invocation with COMMAND, which
# sees the variables above, prints the result JSON on stdout and exits 0.  A
# non-zero exit is answered as $DISPATCHER_ERROR_TYPE (Function.HandlerError).
dispatcher_run() {
    dispatcher_ready
    while dispatcher_next; do
        if _dispatcher_out=$("$@"); then
            dispatcher_result "$_dispatcher_out"
        else
            dispatcher_error "${DISPATCHER_ERROR_TYPE:-Function.HandlerError}" "$1 exited with status $?"
        fi
    done
}
