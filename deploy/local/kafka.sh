#!/usr/bin/env bash
# Local Apache Kafka 4.x in KRaft combined mode from the official jars on Maven Central.
#   kafka.sh up     fetch jars once, format storage once, start, wait until a topic can be
#                   created and described; a running broker is left alone
#   kafka.sh down   stop the broker we started (by recorded pid)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_LIBS=$CACHE_DIR/kafka/libs
KAFKA_DIR=$RUN_DIR/kafka
KAFKA_HEAP=${KAFKA_HEAP:-512m}

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

configure_and_format() {
  mkdir -p "$KAFKA_DIR/data"
  sed -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
      -e "s#@DATA_DIR@#$KAFKA_DIR/data#g" "$ROOT_DIR/deploy/kafka/server.properties.in" \
      > "$KAFKA_DIR/server.properties"
  [[ -f $KAFKA_DIR/data/meta.properties ]] && return 0
  say "formatting Kafka storage"
  local cluster_id
  cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid)
  kafka_java kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$KAFKA_DIR/server.properties" >/dev/null
}

wait_ready() {
  local started=$SECONDS
  until port_open "$KAFKA_PORT"; do
    pid_alive kafka || die "Kafka exited during start; see $KAFKA_DIR/server.log"
    (( SECONDS - started < 120 )) || die "Kafka did not open port $KAFKA_PORT in 120 s"
    sleep 0.3
  done
  # Ready means usable: a topic can be created and described.
  until kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "localhost:$KAFKA_PORT" \
          --create --if-not-exists --topic _readiness --partitions 1 --replication-factor 1 \
          >/dev/null 2>&1 &&
        kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "localhost:$KAFKA_PORT" \
          --describe --topic _readiness 2>/dev/null | grep -q "Leader: 1"; do
    (( SECONDS - started < 180 )) || die "Kafka is up but cannot create a topic"
    sleep 1
  done
}

up() {
  if pid_alive kafka; then say "Kafka already running (pid $(cat "$PID_DIR/kafka.pid"))"; return 0; fi
  if port_open "$KAFKA_PORT"; then
    die "port $KAFKA_PORT is taken by a process we did not start; set LOCAL_KAFKA_PORT or KAFKA_BOOTSTRAP_SERVERS"
  fi
  fetch_jars
  configure_and_format
  local t0=$SECONDS
  say "starting Kafka on localhost:$KAFKA_PORT"
  KAFKA_LOG_FILE=$KAFKA_DIR/server.log
  setsid nohup java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true -Dkafka.log.file="$KAFKA_LOG_FILE" \
      -Dlog4j2.configurationFile="$ROOT_DIR/deploy/kafka/log4j2.properties" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
      >"$KAFKA_DIR/stdout.log" 2>&1 < /dev/null &
  echo $! > "$PID_DIR/kafka.pid"
  wait_ready
  echo "$(( SECONDS - t0 ))" > "$KAFKA_DIR/last_start_seconds"
  say "Kafka ready in $(( SECONDS - t0 )) s"
}

case "${1:-}" in
  up) up ;;
  down) stop_recorded kafka ;;
  fetch) fetch_jars ;;
  *) die "usage: kafka.sh up|down|fetch" ;;
esac
