#!/usr/bin/env bash
# Gate a change (a prompt, a model, a corpus) in CI with `drillkit eval compare`.
#
#   eval-gate.sh save  BASELINE_JSON          on main, after each merge: record main's eval results
#   eval-gate.sh check BASELINE_JSON [OUT]    on a branch: compare its system with main's results;
#                                             writes OUT/eval-compare.{xml,md,json} (OUT: ./eval-gate)
#
# Environment (all optional):
#   DRILLKIT_SYSTEM   the manifest to run: the branch's system        [default ./drillkit.yaml]
#   CANDIDATE_URL     a preview deployment of the branch: the manifest's system with this service URL
#   EVAL_SAMPLE       lines of the inputs sample to send too (latency and cost only)   [default 0]
#   DRILLKIT          the drillkit executable                                           [default drillkit]
#
# Exit codes are drillkit's: 0 no regression beyond the manifest's `gate` (save: results written),
# 1 a regression or an unreachable service, 2 bad input or usage.
#
# Values only ever reach drillkit as quoted arguments: nothing from the environment, the branch or
# the pull request is expanded into shell code (no eval, no unquoted expansion).
set -euo pipefail

drillkit="${DRILLKIT:-drillkit}"
system="${DRILLKIT_SYSTEM:-drillkit.yaml}"
sample="${EVAL_SAMPLE:-0}"

usage() {
  printf 'usage: %s save BASELINE_JSON | check BASELINE_JSON [OUT_DIR]\n' "$0" >&2
  exit 2
}

save() {
  local baseline="$1" partial status=0
  partial="$(mktemp "${baseline}.XXXXXX")"
  # `eval run` exits 1 when main itself is outside its envelope: the results are still main's,
  # and still the baseline a branch must not fall behind; anything else (2: bad input) stops here.
  "$drillkit" eval run --system "$system" --json --sample "$sample" >"$partial" || status=$?
  if [[ $status -ne 0 && $status -ne 1 ]]; then
    rm -f -- "$partial"
    exit "$status"
  fi
  if [[ $status -eq 1 ]]; then
    printf 'warning: main is outside its evaluation envelope; saved its results anyway\n' >&2
  fi
  mv -- "$partial" "$baseline"
  printf 'saved the baseline: %s\n' "$baseline" >&2
}

check() {
  local baseline="$1" out="$2" candidate="$system" status=0
  if [[ -n "${CANDIDATE_URL:-}" ]]; then
    candidate="$CANDIDATE_URL"
  fi
  mkdir -p -- "$out"
  "$drillkit" eval compare --system "$system" --baseline "$baseline" --candidate "$candidate" \
    --sample "$sample" --junit "$out/eval-compare.xml" --markdown "$out/eval-compare.md" \
    --json >"$out/eval-compare.json" || status=$?
  if [[ -s "$out/eval-compare.md" ]]; then
    cat -- "$out/eval-compare.md"
  fi
  exit "$status"
}

[[ $# -ge 2 ]] || usage
case "$1" in
  save) [[ $# -eq 2 ]] || usage; save "$2" ;;
  check) [[ $# -le 3 ]] || usage; check "$2" "${3:-eval-gate}" ;;
  *) usage ;;
esac
