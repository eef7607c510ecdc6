#!/usr/bin/env bash
# Container init: the same roles and grants as the local stack (deploy/postgres/roles.sql).
set -euo pipefail
psql -v ON_ERROR_STOP=1 -U postgres -d postgres -v db=wecom_quota \
  -v owner_pw="$PG_OWNER_PASSWORD" -v app_pw="$PG_APP_PASSWORD" \
  -v reader_pw="$PG_READER_PASSWORD" -f /deploy/postgres/roles.sql
