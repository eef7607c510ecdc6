#!/usr/bin/env bash
# Local Alertmanager: Debian's `prometheus-alertmanager` package (installed when missing) with
# the repository's config (deploy/alertmanager/alertmanager.yml) rendered for local processes:
# the notifier's local address and the local bearer token file. Config, data and log under
# $RUN_DIR/alertmanager; the pid recorded like the other parts of the stack. Single instance:
# its cluster port (9094) is not opened.
#   alertmanager.sh up | down | status | render
# Environment: ALERTMANAGER_PORT (9093), NOTIFIER_PORT (8082), ALERTMANAGER_TOKEN_FILE
# ($RUN_DIR/secrets/alertmanager_token, made once), ALERTMANAGER_GROUP_WAIT and
# ALERTMANAGER_GROUP_INTERVAL (the config's own when unset; tests shorten them).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

AM_DIR=$RUN_DIR/alertmanager
AM_PORT=${ALERTMANAGER_PORT:-9093}
TOKEN_FILE=${ALERTMANAGER_TOKEN_FILE:-$RUN_DIR/secrets/alertmanager_token}

alertmanager_bin() {
  if ! command -v prometheus-alertmanager >/dev/null; then
    say "installing Alertmanager from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null \
      || die "could not install prometheus-alertmanager (apt-get); install it or run without it"
  fi
  command -v prometheus-alertmanager
}

# render: the repository's config with local addresses, written to $AM_DIR/alertmanager.yml.
render() {
  mkdir -p "$AM_DIR/data"
  if [[ ! -s $TOKEN_FILE ]]; then
    [[ $TOKEN_FILE == "$RUN_DIR/secrets/alertmanager_token" ]] || die "$TOKEN_FILE is missing or empty"
    local_secret alertmanager_token >/dev/null
  fi
  local timing=()
  [[ -n ${ALERTMANAGER_GROUP_WAIT:-} ]] && timing+=(-e "s#^\(  group_wait:\).*#\1 $ALERTMANAGER_GROUP_WAIT#")
  [[ -n ${ALERTMANAGER_GROUP_INTERVAL:-} ]] && timing+=(-e "s#^\(  group_interval:\).*#\1 $ALERTMANAGER_GROUP_INTERVAL#")
  sed -e "s#http://notifier:8082/#http://127.0.0.1:${NOTIFIER_PORT:-8082}/#" \
      -e "s#/run/secrets/alertmanager_token#$TOKEN_FILE#" "${timing[@]}" \
      "$ROOT_DIR/deploy/alertmanager/alertmanager.yml" > "$AM_DIR/alertmanager.yml"
  if command -v amtool >/dev/null; then
    amtool check-config "$AM_DIR/alertmanager.yml" >/dev/null \
      || die "invalid Alertmanager config; see amtool check-config $AM_DIR/alertmanager.yml"
  fi
  echo "$AM_DIR/alertmanager.yml"
}

up() {
  if pid_alive alertmanager; then say "Alertmanager already running (pid $(cat "$PID_DIR/alertmanager.pid"))"; return 0; fi
  port_open "$AM_PORT" && die "port $AM_PORT is taken by a process we did not start (a system Alertmanager? systemctl disable --now prometheus-alertmanager); or set ALERTMANAGER_PORT"
  local bin started=$SECONDS
  bin=$(alertmanager_bin)
  render >/dev/null
  say "starting Alertmanager on http://127.0.0.1:$AM_PORT (notices to the notifier on port ${NOTIFIER_PORT:-8082})"
  setsid nohup "$bin" --config.file="$AM_DIR/alertmanager.yml" --storage.path="$AM_DIR/data" \
      --web.listen-address="127.0.0.1:$AM_PORT" --web.external-url="http://127.0.0.1:$AM_PORT" \
      --cluster.listen-address= \
      >"$AM_DIR/alertmanager.log" 2>&1 </dev/null &
  echo $! > "$PID_DIR/alertmanager.pid"
  until curl -fsS "http://127.0.0.1:$AM_PORT/-/ready" >/dev/null 2>&1; do
    pid_alive alertmanager || die "Alertmanager exited during start; see $AM_DIR/alertmanager.log"
    (( SECONDS - started < 60 )) || die "Alertmanager not ready in 60 s; see $AM_DIR/alertmanager.log"
    sleep 0.3
  done
  say "Alertmanager ready in $(( SECONDS - started )) s"
}

status() {
  if pid_alive alertmanager; then echo "alertmanager: running (pid $(cat "$PID_DIR/alertmanager.pid")) on http://127.0.0.1:$AM_PORT"
  else echo "alertmanager: stopped"; fi
}

case "${1:-}" in
  up|start) up ;;
  down|stop) stop_recorded alertmanager ;;
  status) status ;;
  render) render ;;
  *) die "usage: alertmanager.sh up|down|status|render" ;;
esac
