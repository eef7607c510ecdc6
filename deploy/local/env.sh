# The environment of the running system, sourced by stack.sh and the test fixtures' shell
# side: given variables pass through untouched; otherwise the local stack's values are used.
# Generated local secrets live in .run/ (git-ignored), never in the repository.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

local_secret() {  # local_secret NAME: a random secret made once per checkout
  local f=$RUN_DIR/secrets/$1
  if [[ ! -s $f ]]; then
    mkdir -p "$RUN_DIR/secrets" && chmod 700 "$RUN_DIR/secrets"
    python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "$f"
    chmod 600 "$f"
  fi
  cat "$f"
}

local_aes_key() {  # the local WeCom callback EncodingAESKey (43 characters), made once
  local f=$RUN_DIR/secrets/wecom_aes_key
  mkdir -p "$RUN_DIR/secrets" && chmod 700 "$RUN_DIR/secrets"
  [[ -s $f ]] || python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode()[:43])' > "$f"
  cat "$f"
}

local_robot_keys() {  # the local key ring of robot webhook URLs (NOTIFIER_ROBOT_KEYS), made once
  local f=$RUN_DIR/secrets/robot_keys
  mkdir -p "$RUN_DIR/secrets" && chmod 700 "$RUN_DIR/secrets"
  if [[ ! -s $f ]]; then
    python3 -c 'import base64, secrets; print("local:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="))' > "$f"
    chmod 600 "$f"
  fi
  cat "$f"
}

export_stack_env() {
  export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-$(kafka_bootstrap)}
  if (( KAFKA_BROKERS >= 3 )); then  # every topic on three nodes, two in sync (shared/topics.py)
    export TOPIC_REPLICATION_FACTOR=${TOPIC_REPLICATION_FACTOR:-3}
    export TOPIC_MIN_INSYNC_REPLICAS=${TOPIC_MIN_INSYNC_REPLICAS:-2}
  fi
  if [[ -z ${DATABASE_URL:-} ]]; then
    local line
    while IFS= read -r line; do export "${line?}"; done < <(bash "$ROOT_DIR/deploy/local/postgres.sh" env)
  fi
  export INGEST_API_TOKENS=${INGEST_API_TOKENS:-$(local_secret ingest_api_token)}
  # what Alertmanager sends the notifier (deploy/local/alertmanager.sh reads the same file)
  export NOTIFIER_ALERTMANAGER_TOKEN=${NOTIFIER_ALERTMANAGER_TOKEN:-$(local_secret alertmanager_token)}
  # robot webhook URLs are kept encrypted under it (SECURITY.md, "Secrets at rest"): the scorer
  # seals them as it stores an employee record, the notifier opens them to send
  export NOTIFIER_ROBOT_KEYS=${NOTIFIER_ROBOT_KEYS:-$(local_robot_keys)}
  # erased contacts are listed and audited by a keyed hash under it (wecom-quota erase)
  export ERASURE_HMAC_KEY=${ERASURE_HMAC_KEY:-$(local_secret erasure_hmac_key)}
  # the risk token `make up` issues (stack.sh api_tokens), for `make watch`'s reads
  if [[ -z ${WQ_API_TOKEN:-} && -s $RUN_DIR/secrets/watch_api_token ]]; then
    export WQ_API_TOKEN=$(cat "$RUN_DIR/secrets/watch_api_token")
  fi
  export BUSINESS_TIMEZONE=${BUSINESS_TIMEZONE:-Asia/Shanghai}
  # A local WeCom callback configuration, so /wecom/callback is live for the demo; a real
  # deployment passes the corp's own values.
  export WECOM_CORP_ID=${WECOM_CORP_ID:-wwlocaldemo0000001}
  export WECOM_CALLBACK_TOKEN=${WECOM_CALLBACK_TOKEN:-$(local_secret wecom_callback_token)}
  export WECOM_CALLBACK_AES_KEY=${WECOM_CALLBACK_AES_KEY:-$(local_aes_key)}
  export SPOOL_DIR=${SPOOL_DIR:-$RUN_DIR/spool/ingestor}
  export LOOKUP_STATE_DIR=${LOOKUP_STATE_DIR:-$RUN_DIR/lookups/ingestor}
  export RECONCILE_STATE_DIR=${RECONCILE_STATE_DIR:-$RUN_DIR/reconcile/ingestor}
  # The local WeCom stand-in (deploy/local/wecom_standin.sh) unless WECOM_API_BASE names a
  # real WeCom: contact lookups, the daily reconciliation, group robots, app messages and the
  # notifier's e-mail all go there (`make inbox` prints what arrived).
  if [[ -z ${WECOM_API_BASE:-} || -n ${WECOM_STANDIN_URL:-} ]]; then
    export WECOM_STANDIN_PORT=${WECOM_STANDIN_PORT:-8083}
    export WECOM_STANDIN_SMTP_PORT=${WECOM_STANDIN_SMTP_PORT:-8025}
    export WECOM_STANDIN_URL=http://127.0.0.1:$WECOM_STANDIN_PORT
    export WECOM_API_BASE=$WECOM_STANDIN_URL
    export WECOM_CORP_SECRET=${WECOM_CORP_SECRET:-$(local_secret wecom_corp_secret)}
    export NOTIFIER_CONFIG=${NOTIFIER_CONFIG:-$RUN_DIR/wecom/routing.yaml}
    # the stand-in has no frequency limit: a finished month's lookups in a minute or two
    export WECOM_LOOKUP_RATE_PER_SECOND=${WECOM_LOOKUP_RATE_PER_SECOND:-300}
  fi
  # The daily reconciliation is on wherever there is a WeCom to walk (a corp secret given):
  # every ingestor replica runs the schedule, the holder of the Kafka lease runs the walk.
  # RECONCILE_DAILY_AT=off leaves it off; without WECOM_CORP_SECRET there is nothing to walk.
  if [[ ${RECONCILE_DAILY_AT:-} == off ]]; then
    unset RECONCILE_DAILY_AT
  elif [[ -n ${WECOM_CORP_SECRET:-} ]]; then
    export RECONCILE_DAILY_AT=${RECONCILE_DAILY_AT:-02:30}
  fi
  export INGESTOR_PORT=${INGESTOR_PORT:-8080} SCORER_PORT=${SCORER_PORT:-8081} \
         NOTIFIER_PORT=${NOTIFIER_PORT:-8082} SCORER_CONSUME_PORT=${SCORER_CONSUME_PORT:-8084} \
         SCORER_REFRESH_PORT=${SCORER_REFRESH_PORT:-8085}
}
