#!/usr/bin/env bash
# Local Apache Kafka 4.x in KRaft combined mode from the official jars on Maven Central: one node,
# or KAFKA_BROKERS=3 nodes (a quorum of three controllers, topics on three brokers; ports in
# common.sh).
#   kafka.sh up     fetch jars once, format storage once, start, wait until a topic can be
#                   created and described; a running cluster is left alone
#   kafka.sh down   stop the nodes we started (by recorded pid)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_LIBS=$CACHE_DIR/kafka/libs
if (( KAFKA_BROKERS == 1 )); then KAFKA_DIR=$RUN_DIR/kafka; else KAFKA_DIR=$RUN_DIR/kafka-cluster; fi
KAFKA_HEAP=${KAFKA_HEAP:-$( (( KAFKA_BROKERS == 1 )) && echo 512m || echo 384m )}

fetch_jars() {
  [[ -f $KAFKA_LIBS/.complete ]] && return 0
  command -v java >/dev/null || die "java (17+) is required for the local Kafka"
  command -v mvn >/dev/null || die "maven is required to fetch Kafka's jars (apt-get install maven)"
  say "fetching Apache Kafka jars from Maven Central (first run only)"
  rm -rf "$KAFKA_LIBS"
  with_progress "fetching Kafka jars" mvn -B -ntp -f "$ROOT_DIR/deploy/kafka/pom.xml" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" \
    || die "could not fetch Kafka from Maven Central; see the output above"
  touch "$KAFKA_LIBS/.complete"
}

kafka_java() { java -Xmx256m -cp "$KAFKA_LIBS/*" -Dkafka.log.file="$KAFKA_DIR/tools.log" \
  -Dlog4j2.configurationFile="$ROOT_DIR/deploy/kafka/log4j2.properties" "$@"; }

# One node: $RUN_DIR/kafka as always. More: $RUN_DIR/kafka-cluster/node-<n>, a storage of their
# own (a single node's storage cannot join a three-node quorum).
node_dir() { if (( KAFKA_BROKERS == 1 )); then echo "$KAFKA_DIR"; else echo "$KAFKA_DIR/node-$1"; fi; }

quorum() {
  if (( KAFKA_BROKERS == 1 )); then
    echo "controller.quorum.bootstrap.servers=localhost:$(kafka_controller_port 1)"
    return
  fi
  local n voters=()
  for (( n = 1; n <= KAFKA_BROKERS; n++ )); do voters+=("$n@localhost:$(kafka_controller_port "$n")"); done
  (IFS=,; echo "controller.quorum.voters=${voters[*]}")
}

configure_and_format() {
  local n dir replication=$(( KAFKA_BROKERS < 3 ? KAFKA_BROKERS : 3 )) min_isr=1 cluster_id=""
  (( KAFKA_BROKERS >= 3 )) && min_isr=2
  for (( n = 1; n <= KAFKA_BROKERS; n++ )); do
    dir=$(node_dir "$n")
    mkdir -p "$dir/data"
    sed -e "s#@KAFKA_PORT@#$(kafka_node_port "$n")#g" \
        -e "s#@CONTROLLER_PORT@#$(kafka_controller_port "$n")#g" \
        -e "s#@NODE_ID@#$n#" -e "s#@QUORUM@#$(quorum)#" \
        -e "s#@REPLICATION@#$replication#g" -e "s#@MIN_ISR@#$min_isr#g" \
        -e "s#@DATA_DIR@#$dir/data#g" "$ROOT_DIR/deploy/kafka/server.properties.in" \
        > "$dir/server.properties"
    [[ -f $dir/data/meta.properties ]] && continue
    say "formatting Kafka storage (node $n of $KAFKA_BROKERS)"
    [[ -n $cluster_id ]] || cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid)
    if (( KAFKA_BROKERS == 1 )); then
      kafka_java kafka.tools.StorageTool format --standalone -t "$cluster_id" \
          -c "$dir/server.properties" >/dev/null
    else
      kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >/dev/null
    fi
  done
}

all_alive() {
  local n
  for (( n = 1; n <= KAFKA_BROKERS; n++ )); do pid_alive "$(kafka_node_name "$n")" || return 1; done
}

wait_ready() {
  local started=$SECONDS n port bootstrap
  bootstrap=$(kafka_bootstrap)
  for (( n = 1; n <= KAFKA_BROKERS; n++ )); do
    port=$(kafka_node_port "$n")
    until port_open "$port"; do
      pid_alive "$(kafka_node_name "$n")" || die "Kafka node $n exited during start; see $(node_dir "$n")/server.log"
      (( SECONDS - started < 120 )) || die "Kafka did not open port $port in 120 s"
      sleep 0.3
    done
  done
  # Ready means usable: a topic on every node can be created and described with a leader.
  until kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
          --create --if-not-exists --topic _readiness --partitions 1 \
          --replication-factor "$KAFKA_BROKERS" >/dev/null 2>&1 &&
        kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
          --describe --topic _readiness 2>/dev/null | grep -q "Leader: [1-9]"; do
    (( SECONDS - started < 180 )) || die "Kafka is up but cannot create a topic"
    sleep 1
  done
}

start_node() {
  local n=$1 dir name
  dir=$(node_dir "$n")
  name=$(kafka_node_name "$n")
  say "starting Kafka node $n on localhost:$(kafka_node_port "$n")"
  setsid nohup java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true -Dkafka.log.file="$dir/server.log" \
      -Dlog4j2.configurationFile="$ROOT_DIR/deploy/kafka/log4j2.properties" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" \
      >"$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$PID_DIR/$name.pid"
}

up() {
  local running n port
  running=$(cat "$RUN_DIR/kafka.brokers" 2>/dev/null || echo 1)
  if pid_alive kafka && [[ $running != "$KAFKA_BROKERS" ]]; then
    die "Kafka runs with $running node(s), KAFKA_BROKERS=$KAFKA_BROKERS asks for another: make down first"
  fi
  if all_alive; then say "Kafka already running ($KAFKA_BROKERS node(s), pid $(cat "$PID_DIR/kafka.pid"))"; return 0; fi
  for (( n = 1; n <= KAFKA_BROKERS; n++ )); do
    pid_alive "$(kafka_node_name "$n")" && continue
    port=$(kafka_node_port "$n")
    if port_open "$port"; then
      die "port $port is taken by a process we did not start; set LOCAL_KAFKA_PORT or KAFKA_BOOTSTRAP_SERVERS"
    fi
  done
  fetch_jars
  configure_and_format
  local t0=$SECONDS
  for (( n = 1; n <= KAFKA_BROKERS; n++ )); do
    pid_alive "$(kafka_node_name "$n")" || start_node "$n"
  done
  echo "$KAFKA_BROKERS" > "$RUN_DIR/kafka.brokers"
  wait_ready
  echo "$(( SECONDS - t0 ))" > "$(node_dir 1)/last_start_seconds"
  say "Kafka ready in $(( SECONDS - t0 )) s ($KAFKA_BROKERS node(s): $(kafka_bootstrap))"
}

down() {
  local f
  for f in "$PID_DIR"/kafka-[0-9]*.pid; do
    if [[ -e $f ]]; then stop_recorded "$(basename "$f" .pid)"; fi
  done
  stop_recorded kafka
  rm -f "$RUN_DIR/kafka.brokers"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  fetch) fetch_jars ;;
  *) die "usage: kafka.sh up|down|fetch" ;;
esac
