#!/usr/bin/env bash
# Where to look, and the live terminal summary (tools/live_summary).
#   watch.sh where       the URLs of what runs, and the commands to go further
#   watch.sh after-up    `make up`'s ending: where to look, then the summary for WATCH_SECONDS
#                        (default 90) on a terminal; one summary when not on a terminal or in
#                        CI; nothing with WATCH_SECONDS=0. Ctrl-C stops watching, not the stack.
#   watch.sh watch ARGS  the summary until Ctrl-C (`make watch`); ARGS go to the module
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PYTHON=${PYTHON:-$ROOT_DIR/.venv/bin/python}
export_stack_env
# The month being simulated, when one is; otherwise the module takes the current month.
[[ -z ${SIMULATE_MONTH:-} && -s $RUN_DIR/simulator.month ]] && export SIMULATE_MONTH=$(cat "$RUN_DIR/simulator.month")

answers() { curl -fsS -m 2 -o /dev/null "$1" 2>/dev/null; }

where() {
  local period=${SIMULATE_MONTH:-$(date +%Y-%m)} prom=http://127.0.0.1:${PROMETHEUS_PORT:-9090}
  local grafana=http://127.0.0.1:${GRAFANA_PORT:-3000} am=http://127.0.0.1:${ALERTMANAGER_PORT:-9093}
  cat <<TEXT

Where to look
  ingestor   http://127.0.0.1:$INGESTOR_PORT   POST /v1/events (token: cat .run/secrets/ingest_api_token), /wecom/callback, /metrics
  scorer     http://127.0.0.1:$SCORER_PORT/v1/scores?period=$period   /metrics
  console    http://127.0.0.1:$SCORER_PORT/console   sign in with the admin token: cat .run/secrets/admin_api_token
  notifier   http://127.0.0.1:$NOTIFIER_PORT/v1/alerts   /metrics
  API token  admin: TOKEN=\$(cat .run/secrets/admin_api_token); curl -H "Authorization: Bearer \$TOKEN" …
             more: .venv/bin/wecom-quota tokens create --role supervisor --employee-id ID --name NAME
TEXT
  if answers "$prom/-/ready"; then echo "  Prometheus $prom"; fi
  if answers "$am/-/ready"; then echo "  Alertmanager $am   (ops alerts to the notifier's POST /v1/alertmanager)"; fi
  if answers "$grafana/api/health"; then echo "  Grafana    $grafana"; fi
  cat <<TEXT
  report     make report PERIOD=$period BRANCH=<branch id>   (HTML with charts, for e-mail)
  logs       .run/logs/   ·   make watch: live summary   ·   make status   ·   make down: stop all

TEXT
}

after_up() {
  where
  local seconds=${WATCH_SECONDS:-90}
  [[ $seconds == 0 ]] && return 0
  if [[ -t 1 && -z ${CI:-} ]]; then
    say "live summary for ${seconds} s (WATCH_SECONDS; Ctrl-C stops watching, the stack keeps running)"
    "$PYTHON" -m tools.live_summary --seconds "$seconds" || true
    say "the stack keeps running: make watch to watch again, make down to stop it"
  else
    "$PYTHON" -m tools.live_summary --once || true
  fi
}

case "${1:-}" in
  where) where ;;
  after-up) after_up ;;
  watch) shift; exec "$PYTHON" -m tools.live_summary "$@" ;;
  *) die "usage: watch.sh where|after-up|watch [ARGS]" ;;
esac
