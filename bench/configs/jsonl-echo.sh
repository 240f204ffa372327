#!/usr/bin/env bash
# jsonl echo worker: one JSON document per line each way (config.example.yaml:
# `protocol: jsonl`, `ready: frame` = wait for {"ready": true}).  bash
# announces readiness, then hands the stream to one long-lived jq (one
# process for the whole run, not one per event) that echoes each document.
# The reply envelope is docs/jsonl.md's: {"id": ..., "result": <the event>}.
printf '{"ready": true}\n'
exec jq -c --unbuffered '{id: .id, result: .event}'
