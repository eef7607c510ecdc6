#!/usr/bin/env bash
# The local WeCom stand-in (tools/wecom_standin.py) in place of qyapi.weixin.qq.com and the
# bank's SMTP relay: the WeCom API the ingestor looks contacts up in and reconciles against,
# the group robots and app messages the notifier sends, and an SMTP port for its e-mail.
# What it receives lands in $RUN_DIR/wecom/inbox.jsonl (`make inbox`).
#   wecom_standin.sh up | down | status | inbox
# Environment (deploy/local/env.sh): WECOM_STANDIN_PORT (8083), WECOM_STANDIN_SMTP_PORT (8025).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PYTHON=${PYTHON:-$ROOT_DIR/.venv/bin/python}
STANDIN_DIR=$RUN_DIR/wecom

up() {
  export_stack_env
  [[ -n ${WECOM_STANDIN_URL:-} ]] || { say "WECOM_API_BASE given: no local WeCom stand-in"; return 0; }
  mkdir -p "$STANDIN_DIR"
  printf 'working_days:\n  - date: %s\n    reason: the day of make up (the demo daily digest)\n' \
    "$(TZ=$BUSINESS_TIMEZONE date +%Y-%m-%d)" > "$STANDIN_DIR/calendar.yaml"
  sed -e "s/@SMTP_PORT@/$WECOM_STANDIN_SMTP_PORT/" -e "s#@CALENDAR@#$STANDIN_DIR/calendar.yaml#" \
      -e "s/@DIGEST_AT@/$(TZ=$BUSINESS_TIMEZONE date -d '+5 min' +%H:%M)/" \
    "$ROOT_DIR/deploy/notifier/routing.local.yaml" > "$STANDIN_DIR/routing.yaml"
  if pid_alive wecom-standin; then say "wecom-standin already running (pid $(cat "$PID_DIR/wecom-standin.pid"))"; return 0; fi
  local port
  for port in "$WECOM_STANDIN_PORT" "$WECOM_STANDIN_SMTP_PORT"; do
    port_open "$port" && die "port $port is taken by a process we did not start (set WECOM_STANDIN_PORT / WECOM_STANDIN_SMTP_PORT)"
  done
  say "starting the WeCom stand-in on $WECOM_STANDIN_URL (SMTP on port $WECOM_STANDIN_SMTP_PORT)"
  (cd "$ROOT_DIR" || exit 1
   setsid nohup "$PYTHON" -m tools.wecom_standin --port "$WECOM_STANDIN_PORT" \
     --smtp-port "$WECOM_STANDIN_SMTP_PORT" --dir "$STANDIN_DIR" \
     >>"$LOG_DIR/wecom-standin.log" 2>&1 </dev/null &
   echo $! > "$PID_DIR/wecom-standin.pid")
  local started=$SECONDS
  until port_open "$WECOM_STANDIN_PORT" && port_open "$WECOM_STANDIN_SMTP_PORT"; do
    pid_alive wecom-standin || die "wecom-standin exited during start; see $LOG_DIR/wecom-standin.log"
    (( SECONDS - started < 30 )) || die "wecom-standin did not listen in 30 s; see $LOG_DIR/wecom-standin.log"
    sleep 0.2
  done
}

case "${1:-}" in
  up) up ;;
  down) stop_recorded wecom-standin ;;
  status) if pid_alive wecom-standin; then echo "wecom-standin: running"; else echo "wecom-standin: stopped"; fi ;;
  inbox) "$PYTHON" -m tools.inbox "$STANDIN_DIR/inbox.jsonl" ;;
  *) die "usage: wecom_standin.sh up|down|status|inbox" ;;
esac
