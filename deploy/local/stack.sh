#!/usr/bin/env bash
# The whole local system. Docker engine present → docker compose; otherwise local processes.
# Given KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are used as they are (nothing started for them).
#   stack.sh up | down | infra | status
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

infra_up() {
  [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]] && say "using Kafka at $KAFKA_BOOTSTRAP_SERVERS" \
    || bash "$ROOT_DIR/deploy/local/kafka.sh" up
  [[ -n ${DATABASE_URL:-} ]] && say "using the PostgreSQL of DATABASE_URL" \
    || bash "$ROOT_DIR/deploy/local/postgres.sh" up
}

migrate() {
  export_stack_env
  "$PYTHON" -m shared.db
}

# API tokens of the local stack, issued once per database (wecom-quota tokens create) and kept
# in .run/secrets/ (git-ignored): admin_api_token for the operator (README's curl examples),
# watch_api_token (risk: reads every score and alert) for `make watch`.
wq_cli() {  # wecom-quota, here or (WQ_CLI_IN_COMPOSE=1) inside the compose stack's scorer
  if [[ ${WQ_CLI_IN_COMPOSE:-} == 1 ]]; then
    docker compose -f "$ROOT_DIR/docker-compose.yml" exec -T scorer python -m shared.cli "$@"
  else
    "$PYTHON" -m shared.cli "$@"
  fi
}

api_tokens() {
  [[ ${WQ_CLI_IN_COMPOSE:-} == 1 ]] || export_stack_env
  local pair role file name
  for pair in admin:admin_api_token risk:watch_api_token; do
    role=${pair%%:*} file=$RUN_DIR/secrets/${pair#*:}
    # kept while the database still holds it unrevoked (its name is beside it)
    if [[ -s $file && -s $file.name ]] && wq_cli tokens list \
         | grep -qP "^\Q$(cat "$file.name")\E\t.*revoked: -$"; then
      continue
    fi
    name=local-$role-$(date +%Y%m%d%H%M%S)
    mkdir -p "$RUN_DIR/secrets" && chmod 700 "$RUN_DIR/secrets"
    (umask 077 && wq_cli tokens create --role "$role" --name "$name" \
       > "$file.new") && mv "$file.new" "$file" && echo "$name" > "$file.name"
  done
}

status() {
  local name n kafka=()
  for (( n = 1; n <= KAFKA_BROKERS; n++ )); do kafka+=("$(kafka_node_name "$n")"); done
  for name in "${kafka[@]}" postgres ingestor scorer scorer-consume scorer-refresh notifier simulator prometheus alertmanager wecom-standin; do
    if pid_alive "$name"; then echo "$name: running (pid $(cat "$PID_DIR/$name.pid"))"
    else echo "$name: stopped"; fi
  done
}

PYTHON=${PYTHON:-$ROOT_DIR/.venv/bin/python}
case "${1:-}" in
  infra) infra_up ;;
  up)
    if docker_engine && [[ -z ${KAFKA_BOOTSTRAP_SERVERS:-}${DATABASE_URL:-} ]]; then
      say "Docker engine found: docker compose up"
      export ALERTMANAGER_TOKEN=${ALERTMANAGER_TOKEN:-$(local_secret alertmanager_token)}
      export INGEST_API_TOKENS=${INGEST_API_TOKENS:-$(local_secret ingest_api_token)}
      # the business calendar's month, not the machine's (they differ for hours at a month's end)
      business=${BUSINESS_TIMEZONE:-Asia/Shanghai}
      export SIMULATE_MONTH=${SIMULATE_MONTH:-$(TZ=$business date +%Y-%m)}
      export SIMULATE_BACKFILL=${SIMULATE_BACKFILL:-$(date -d "$(TZ=$business date +%Y-%m-01) -2 month" +%Y-%m)}
      export WECOM_CORP_ID=${WECOM_CORP_ID:-wwlocaldemo0000001}
      export WECOM_CALLBACK_TOKEN=${WECOM_CALLBACK_TOKEN:-$(local_secret wecom_callback_token)}
      export WECOM_CALLBACK_AES_KEY=${WECOM_CALLBACK_AES_KEY:-$(local_aes_key)}
      export WECOM_CORP_SECRET=${WECOM_CORP_SECRET:-$(local_secret wecom_corp_secret)}
      export ERASURE_HMAC_KEY=${ERASURE_HMAC_KEY:-$(local_secret erasure_hmac_key)}
      docker compose -f "$ROOT_DIR/docker-compose.yml" up -d --build --wait
      WQ_CLI_IN_COMPOSE=1 api_tokens
      say "admin API token: TOKEN=\$(cat .run/secrets/admin_api_token); curl -H \"Authorization: Bearer \$TOKEN\" http://127.0.0.1:8081/v1/scores?period=$(date +%Y-%m)"
      exit 0
    fi
    infra_up
    migrate
    api_tokens
    bash "$ROOT_DIR/deploy/local/alertmanager.sh" up
    bash "$ROOT_DIR/deploy/local/prometheus.sh" up
    bash "$ROOT_DIR/deploy/local/wecom_standin.sh" up
    bash "$ROOT_DIR/deploy/local/services.sh" up
    bash "$ROOT_DIR/deploy/local/watch.sh" after-up
    ;;
  down)
    if docker_engine && [[ -f $ROOT_DIR/docker-compose.yml ]] && \
       docker compose -f "$ROOT_DIR/docker-compose.yml" ps -q 2>/dev/null | grep -q .; then
      docker compose -f "$ROOT_DIR/docker-compose.yml" down
    fi
    bash "$ROOT_DIR/deploy/local/prometheus.sh" down
    bash "$ROOT_DIR/deploy/local/alertmanager.sh" down
    bash "$ROOT_DIR/deploy/local/services.sh" down
    bash "$ROOT_DIR/deploy/local/wecom_standin.sh" down
    bash "$ROOT_DIR/deploy/local/postgres.sh" down
    bash "$ROOT_DIR/deploy/local/kafka.sh" down
    ;;
  status) status ;;
  migrate) migrate ;;
  *) die "usage: stack.sh up|down|infra|status" ;;
esac
