#!/usr/bin/env bash
# The three services as background processes with recorded pids and logs under .run/.
#   services.sh up     start whichever is not running, wait until each answers /readyz
#   services.sh down   stop the ones we started
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PYTHON=${PYTHON:-$ROOT_DIR/.venv/bin/python}
SERVICES=(ingestor scorer notifier)

port_of() {
  case $1 in ingestor) echo "$INGESTOR_PORT" ;; scorer) echo "$SCORER_PORT" ;; notifier) echo "$NOTIFIER_PORT" ;; esac
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
  local name port
  for name in "${SERVICES[@]}"; do
    port=$(port_of "$name")
    if pid_alive "$name"; then say "$name already running (pid $(cat "$PID_DIR/$name.pid"))"; continue; fi
    port_open "$port" && die "port $port is taken by a process we did not start (set ${name^^}_PORT)"
    say "starting $name"
    # setsid: its own session, so it outlives this shell and holds none of its pipes;
    # the recorded pid is the service itself.
    (cd "$ROOT_DIR" || exit 1
     setsid nohup "$PYTHON" -m "services.$name" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
     echo $! > "$PID_DIR/$name.pid")
  done
  for name in "${SERVICES[@]}"; do wait_ready "$name" "$(port_of "$name")"; done
}

down() {
  local i
  for (( i=${#SERVICES[@]}-1; i>=0; i-- )); do stop_recorded "${SERVICES[$i]}"; done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: services.sh up|down" ;;
esac
