#!/usr/bin/env bash
# Local Prometheus: Debian's `prometheus` package (installed when missing), scraping the three
# services on their local ports with the rules of deploy/prometheus/. Config, data and log
# under $RUN_DIR/prometheus; the pid recorded like the other parts of the stack.
#   prometheus.sh up | down | status
# Environment: PROMETHEUS_PORT (9090), PROMETHEUS_SCRAPE_INTERVAL (15s), INGESTOR_PORT,
# SCORER_PORT, NOTIFIER_PORT (8080-8082), SCORER_CONSUME_PORT, SCORER_REFRESH_PORT (8084, 8085:
# the scorer's other processes, in the scorer job), PROMETHEUS_RETENTION (15d), ALERTMANAGER_PORT (9093,
# where it sends alerts), PROMETHEUS_RULES_DIR (deploy/prometheus/rules; a test points it at a
# copy of the rules with shorter `for:` durations).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PROM_DIR=$RUN_DIR/prometheus
PROM_PORT=${PROMETHEUS_PORT:-9090}
INTERVAL=${PROMETHEUS_SCRAPE_INTERVAL:-15s}
RULES_DIR=${PROMETHEUS_RULES_DIR:-$ROOT_DIR/deploy/prometheus/rules}

prometheus_bin() {
  if ! command -v prometheus >/dev/null; then
    say "installing Prometheus from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
      || die "could not install prometheus (apt-get); install it or run without it"
  fi
  command -v prometheus
}

# The repository's config with local addresses, the scrape interval and absolute rule paths.
render_config() {
  mkdir -p "$PROM_DIR/data"
  sed -e "s#\"ingestor:8080\"#\"127.0.0.1:${INGESTOR_PORT:-8080}\"#" \
      -e "s#\"scorer:8081\"#\"127.0.0.1:${SCORER_PORT:-8081}\"#" \
      -e "s#\"scorer-consume:8084\"#\"127.0.0.1:${SCORER_CONSUME_PORT:-8084}\"#" \
      -e "s#\"scorer-refresh:8085\"#\"127.0.0.1:${SCORER_REFRESH_PORT:-8085}\"#" \
      -e "s#\"notifier:8082\"#\"127.0.0.1:${NOTIFIER_PORT:-8082}\"#" \
      -e "s#\"localhost:9090\"#\"127.0.0.1:$PROM_PORT\"#" \
      -e "s#\"alertmanager:9093\"#\"127.0.0.1:${ALERTMANAGER_PORT:-9093}\"#" \
      -e "s#^\(  *\)- rules/#\1- $RULES_DIR/#" \
      -e "s#^\(  *scrape_interval:\).*#\1 $INTERVAL#" \
      -e "s#^\(  *evaluation_interval:\).*#\1 $INTERVAL#" \
      "$ROOT_DIR/deploy/prometheus/prometheus.yml" > "$PROM_DIR/prometheus.yml"
}

up() {
  if pid_alive prometheus; then say "Prometheus already running (pid $(cat "$PID_DIR/prometheus.pid"))"; return 0; fi
  port_open "$PROM_PORT" && die "port $PROM_PORT is taken by a process we did not start (a system Prometheus? systemctl disable --now prometheus); or set PROMETHEUS_PORT"
  local bin started=$SECONDS
  bin=$(prometheus_bin)
  render_config
  if command -v promtool >/dev/null; then
    promtool check config "$PROM_DIR/prometheus.yml" >/dev/null || die "invalid Prometheus config; see promtool check config $PROM_DIR/prometheus.yml"
  fi
  say "starting Prometheus on http://127.0.0.1:$PROM_PORT (scrape every $INTERVAL)"
  setsid nohup "$bin" --config.file="$PROM_DIR/prometheus.yml" \
      --storage.tsdb.path="$PROM_DIR/data" \
      --storage.tsdb.retention.time="${PROMETHEUS_RETENTION:-15d}" \
      --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-lifecycle \
      >"$PROM_DIR/prometheus.log" 2>&1 </dev/null &
  echo $! > "$PID_DIR/prometheus.pid"
  until curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1; do
    pid_alive prometheus || die "Prometheus exited during start; see $PROM_DIR/prometheus.log"
    (( SECONDS - started < 60 )) || die "Prometheus not ready in 60 s; see $PROM_DIR/prometheus.log"
    sleep 0.3
  done
  say "Prometheus ready in $(( SECONDS - started )) s"
}

status() {
  if pid_alive prometheus; then echo "prometheus: running (pid $(cat "$PID_DIR/prometheus.pid")) on http://127.0.0.1:$PROM_PORT"
  else echo "prometheus: stopped"; fi
}

case "${1:-}" in
  up|start) up ;;
  down|stop) stop_recorded prometheus ;;
  status) status ;;
  *) die "usage: prometheus.sh up|down|status" ;;
esac
