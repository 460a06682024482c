#!/usr/bin/env bash
# One look at the five inputs (model, prompt, retrieval, tools, inputs), for a schedule: cron, or a
# CI pipeline's schedule. Each change since the previous look is appended to
# $DRILLKIT_HOME/changes.jsonl with the evals taken right after it; the last known good baseline
# moves forward only while the evals hold.
#
#   watch-once.sh [OUT_DIR]     copies changes.jsonl and baseline.json to OUT_DIR when given
#
# Environment:
#   DRILLKIT_HOME     required: a folder kept between runs (a CI cache, a volume); the change log
#                     is a hash chain that each run extends, so a fresh folder every run sees
#                     everything as "first look" and logs no change
#   DRILLKIT_SYSTEM   the manifest to watch                                 [default ./drillkit.yaml]
#   WATCH_SAMPLE      eval cases per look                                   [default: drillkit's]
#   DRILLKIT          the drillkit executable                               [default drillkit]
#
# Exit codes: drillkit's; see `drillkit watch --help`.
set -euo pipefail

: "${DRILLKIT_HOME:?set DRILLKIT_HOME to a folder that is kept between runs}"
export DRILLKIT_HOME
drillkit="${DRILLKIT:-drillkit}"
out="${1:-}"

args=(watch --once --system "${DRILLKIT_SYSTEM:-drillkit.yaml}")
if [[ -n "${WATCH_SAMPLE:-}" ]]; then
  args+=(--sample "$WATCH_SAMPLE")
fi

status=0
"$drillkit" "${args[@]}" || status=$?

if [[ -n "$out" ]]; then
  mkdir -p -- "$out"
  for file in changes.jsonl baseline.json; do
    if [[ -f "$DRILLKIT_HOME/$file" ]]; then
      cp -- "$DRILLKIT_HOME/$file" "$out/$file"
    fi
  done
fi
exit "$status"
