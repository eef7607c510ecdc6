# Shared helpers of the local, Docker-free stack. Sourced, never run.
# Everything we start lives under $RUN_DIR (git-ignored): data, logs, and one pid file per
# process, so `make down` stops exactly what we started and nothing else.
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT_DIR/.run}
CACHE_DIR=${CACHE_DIR:-$ROOT_DIR/.cache}
PID_DIR=$RUN_DIR/pids
LOG_DIR=$RUN_DIR/logs
mkdir -p "$PID_DIR" "$LOG_DIR"

KAFKA_PORT=${LOCAL_KAFKA_PORT:-9092}
# 9095, not Kafka's usual 9093: that is Alertmanager's port (9094 its cluster port)
KAFKA_CONTROLLER_PORT=${LOCAL_KAFKA_CONTROLLER_PORT:-9095}
# KAFKA_BROKERS=3: a three-node KRaft cluster; node n listens on KAFKA_PORT + 100·(n-1) and its
# controller on KAFKA_CONTROLLER_PORT + 100·(n-1) (9092, 9192, 9292 and 9095, 9195, 9295).
KAFKA_BROKERS=${KAFKA_BROKERS:-1}
[[ $KAFKA_BROKERS =~ ^[1-9]$ ]] || { echo "KAFKA_BROKERS must be 1 to 9, not $KAFKA_BROKERS" >&2; exit 1; }
kafka_node_port() { echo $(( KAFKA_PORT + 100 * ($1 - 1) )); }
kafka_controller_port() { echo $(( KAFKA_CONTROLLER_PORT + 100 * ($1 - 1) )); }
kafka_node_name() { if (( $1 == 1 )); then echo kafka; else echo "kafka-$1"; fi; }
kafka_bootstrap() {  # every node's listener, comma-separated
  local n out=()
  for (( n = 1; n <= KAFKA_BROKERS; n++ )); do out+=("localhost:$(kafka_node_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}
PG_PORT=${LOCAL_PG_PORT:-55432}
PG_DB=${LOCAL_PG_DB:-wecom_quota}

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# with_progress LABEL CMD...: run a long step (a download, an install) with its output in a log
# under $LOG_DIR, saying every PROGRESS_EVERY seconds (default 10) that it is still going and
# how long it has taken, so a first run never looks hung. On failure the log's tail is shown.
with_progress() {
  local label=$1 log started=$SECONDS pid rc=0
  shift
  log=$LOG_DIR/step-$(printf '%s' "$label" | tr -c 'A-Za-z0-9' '-' | cut -c1-40).log
  "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 1 "$(( ${PROGRESS_EVERY:-10} * 5 ))"); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && printf '    ... %s: %d s so far (log: %s)\n' "$label" "$(( SECONDS - started ))" "$log" >&2
  done
  wait "$pid" || rc=$?
  if (( rc != 0 )); then
    tail -n 20 "$log" >&2
    return "$rc"
  fi
  printf '    %s: done in %d s\n' "$label" "$(( SECONDS - started ))" >&2
}

# pid_alive NAME: true when the recorded process of NAME still runs (a zombie does not count:
# where nothing reaps orphans, a killed process lingers as one).
pid_alive() {
  local f=$PID_DIR/$1.pid pid state
  [[ -s $f ]] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $state != Z ]]
}

# stop_recorded NAME: TERM the recorded process (and its group), wait, then KILL.
stop_recorded() {
  local name=$1 f=$PID_DIR/$1.pid pid
  [[ -s $f ]] || return 0
  pid=$(cat "$f")
  if pid_alive "$name"; then
    say "stopping $name (pid $pid)"
    # Started with setsid, each leads its own process group: stop the group (a wrapper's
    # children too), falling back to the process alone.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do pid_alive "$name" || break; sleep 0.1; done
    if pid_alive "$name"; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

docker_engine() { command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1; }
