#!/bin/bash
# An exec-kind script that misbehaves on command: $1 names the behaviour
# (the tests give each worker its own command line).  PIDS_FILE, when set,
# collects the pids of the processes a case starts, for "none survives" checks.
case "$1" in
echo)       exec cat ;;
env)        # the invocation's context, as JSON (unset variables come out as null)
            cat >/dev/null
            read -r _ _ _ _ pgid _ </proc/$$/stat
            jq -cn --arg pid $$ --arg pgid "$pgid" '{id: env.LAMBDA_REQUEST_ID, deadline: env.LAMBDA_DEADLINE_MS,
                arn: env.LAMBDA_FUNCTION_ARN, trace: env._X_AMZN_TRACE_ID, cc: env.LAMBDA_CLIENT_CONTEXT,
                cognito: env.LAMBDA_COGNITO_IDENTITY, tenant: env.LAMBDA_TENANT_ID, greeting: env.GREETING,
                protocol: env.DISPATCHER_PROTOCOL, runtime_api: env.AWS_LAMBDA_RUNTIME_API,
                pgid_is_pid: ($pid == $pgid)}' ;;
fail)       cat >/dev/null
            printf 'partial output' ; echo "first stderr line" >&2 ; echo "bad input: missing name" >&2 ; exit 3 ;;
signal)     cat >/dev/null ; echo "about to be killed" >&2 ; kill -SEGV $$ ;;
pipeline)   # a pipeline of several processes and a subshell, one ignoring SIGTERM; hangs
            cat >/dev/null
            ( trap '' TERM; echo $BASHPID >>"$PIDS_FILE"; while :; do sleep 0.2; done ) &
            sh -c 'echo $$ >>"$PIDS_FILE"; exec sleep 1000' | sh -c 'echo $$ >>"$PIDS_FILE"; exec cat' | { echo $BASHPID >>"$PIDS_FILE"; cat; } ;;
background) # leaves jobs holding stdout: one in the group, one that left it with setsid
            cat >/dev/null
            sleep 1000 & echo $! >>"$PIDS_FILE"
            setsid sh -c 'echo $$ >>"$PIDS_FILE"; exec sleep 1000' &
            while [ "$(wc -l <"$PIDS_FILE")" -lt 2 ]; do sleep 0.01; done
            printf '"done"' ;;
no_stdin)   printf '"did not read"' ;;
close_stdin) exec 0<&- ; sleep 0.1 ; printf '"closed"' ;;
flood)      cat >/dev/null ; exec cat /dev/zero ;;
exact)      cat >/dev/null ; head -c 6291556 /dev/zero | tr '\0' x ;;
stderr_flood) cat >/dev/null
            head -c 3000000 /dev/zero | tr '\0' e | fold -w 1000 >&2 ; printf '"flooded"' ;;
hang)       cat >/dev/null ; exec sleep 1000 ;;
binary)     cat >/dev/null ; printf 'not json \001\377 at all\n' ;;
*)          echo "faulty.sh: unknown case '$1'" >&2 ; exit 64 ;;
esac
