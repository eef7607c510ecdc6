#!/usr/bin/env bash
# The HTML report of the running stack's database (tools/report), through the read-only role.
#   report.sh            PERIOD (default: the simulated month, else this month), BRANCH (default:
#                        all branches), OUT (default reports/<branch>-<period>.html)
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PYTHON=${PYTHON:-$ROOT_DIR/.venv/bin/python}
export_stack_env
period=${PERIOD:-$( [[ -s $RUN_DIR/simulator.month ]] && cat "$RUN_DIR/simulator.month" || date +%Y-%m)}
args=(--period "$period")
[[ -n ${BRANCH:-} ]] && args+=(--branch "$BRANCH")
[[ -n ${OUT:-} ]] && args+=(--out "$OUT")
cd "$ROOT_DIR" && exec "$PYTHON" -m tools.report "${args[@]}"
