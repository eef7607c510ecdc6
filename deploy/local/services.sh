#!/usr/bin/env bash
# The three services as background processes with recorded pids and logs under .run/. The
# scorer runs as three processes, as a bank runs it at its peak (docs/operations.md): `scorer`
# serves the read API (SCORER_ROLE=api), `scorer-consume` consumes and keeps the quota figures,
# `scorer-refresh` recomputes quality and anomaly at a lower CPU priority.
#   services.sh up     start whichever is not running, wait until each answers /readyz
#   services.sh down   stop the ones we started
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PYTHON=${PYTHON:-$ROOT_DIR/.venv/bin/python}
SERVICES=(ingestor scorer-consume scorer-refresh scorer notifier)
ALL=(simulator "${SERVICES[@]}")

port_of() {
  case $1 in
    ingestor) echo "$INGESTOR_PORT" ;; scorer) echo "$SCORER_PORT" ;;
    scorer-consume) echo "$SCORER_CONSUME_PORT" ;; scorer-refresh) echo "$SCORER_REFRESH_PORT" ;;
    notifier) echo "$NOTIFIER_PORT" ;;
  esac
}

# The settings that make a scorer process what it is (in the subshell that starts it).
scorer_role() {
  case $1 in
    scorer) export SCORER_ROLE=api ;;
    scorer-*) export SCORER_ROLE=${1#scorer-} SCORER_PORT=$(port_of "$1") ;;
  esac
}

wait_ready() {
  local name=$1 port=$2 started=$SECONDS
  until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    pid_alive "$name" || die "$name exited during start; see $LOG_DIR/$name.log"
    (( SECONDS - started < 90 )) || die "$name did not become ready in 90 s; see $LOG_DIR/$name.log"
    sleep 0.5
  done
  say "$name ready on http://127.0.0.1:$port"
}

up() {
  export_stack_env
  local name port variable
  for name in "${SERVICES[@]}"; do
    port=$(port_of "$name")
    if pid_alive "$name"; then say "$name already running (pid $(cat "$PID_DIR/$name.pid"))"; continue; fi
    variable=${name//-/_}_PORT
    port_open "$port" && die "port $port is taken by a process we did not start (set ${variable^^})"
    say "starting $name"
    # setsid: its own session, so it outlives this shell and holds none of its pipes;
    # the recorded pid is the service itself.
    (cd "$ROOT_DIR" || exit 1
     scorer_role "$name"
     setsid nohup "$PYTHON" -m "services.${name%%-*}" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
     echo $! > "$PID_DIR/$name.pid")
  done
  for name in "${SERVICES[@]}"; do wait_ready "$name" "$(port_of "$name")"; done
  simulate
}

# The simulator: a realistic bank month fed through the ingestor's real interface, time
# compressed (SIMULATE_SPEED simulated seconds per second). SIMULATE=0 leaves it out.
simulate() {
  [[ ${SIMULATE:-1} == 0 ]] && { say "SIMULATE=0: no simulator"; return 0; }
  if pid_alive simulator; then say "simulator already running (pid $(cat "$PID_DIR/simulator.pid"))"; return 0; fi
  [[ -f $RUN_DIR/simulator.done ]] && { say "the simulated month was fed already (rm $RUN_DIR/simulator.done to feed again)"; return 0; }
  local month=${SIMULATE_MONTH:-$(TZ=$BUSINESS_TIMEZONE date +%Y-%m)}  # the business calendar's
  echo "$month" > "$RUN_DIR/simulator.month"
  say "simulator: feeding a ${SIMULATE_EMPLOYEES:-200}-employee bank month $month at ${SIMULATE_SPEED:-2000}x"
  # With the WeCom stand-in: the month before last first, complete and unpaced (due to close),
  # and every month's contact events as WeCom callbacks (tools/simulator/wecom_path.py).
  local wecom=()
  if [[ -n ${WECOM_STANDIN_URL:-} ]]; then
    local first earlier
    first=$(TZ=$BUSINESS_TIMEZONE date +%Y-%m-01)
    earlier=${SIMULATE_BACKFILL:-$(date -d "$first -2 month" +%Y-%m)}
    say "simulator: first the month $earlier, complete; contact events as WeCom callbacks"
    wecom=(--backfill "$earlier" --callbacks --wecom-standin "$WECOM_STANDIN_URL" --robot-base "$WECOM_STANDIN_URL")
  fi
  (cd "$ROOT_DIR" || exit 1
   setsid nohup bash -c '"$0" -m tools.simulator --seed "${SIMULATE_SEED:-1}" --month "$1" \
       --employees "${SIMULATE_EMPLOYEES:-200}" --camouflage "${SIMULATE_CAMOUFLAGE:-1}" \
       --post "http://127.0.0.1:$INGESTOR_PORT" --speed "${SIMULATE_SPEED:-2000}" \
       --labels "$2/simulator-labels.json" "${@:3}" && touch "$2/simulator.done"' \
       "$PYTHON" "$month" "$RUN_DIR" "${wecom[@]}" >>"$LOG_DIR/simulator.log" 2>&1 </dev/null &
   echo $! > "$PID_DIR/simulator.pid")
}

down() {
  local name
  for name in "${ALL[@]}"; do stop_recorded "$name"; done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: services.sh up|down" ;;
esac
