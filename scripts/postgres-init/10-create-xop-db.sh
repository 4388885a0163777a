#!/usr/bin/env bash
# The XOP ticket database beside Airflow's own, with a role of its own (DESIGN.md section 3: never
# Airflow's metadata DB). The postgres image runs every script in /docker-entrypoint-initdb.d once,
# when its data volume is new; CI runs it against the machine's PostgreSQL (tests/distributed).
#
# Environment: XOP_DB_PASSWORD (required), XOP_DB_NAME and XOP_DB_USER (default: xop),
# POSTGRES_USER / POSTGRES_DB (the image's superuser and database), PGHOST/PGPORT as usual.
set -euo pipefail

: "${XOP_DB_PASSWORD:?set XOP_DB_PASSWORD (the password of the xop role)}"
db_name="${XOP_DB_NAME:-xop}"
db_user="${XOP_DB_USER:-xop}"

# psql variables (:'v' quotes a literal, :"v" an identifier): no value is pasted into SQL text.
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v db_name="$db_name" -v db_user="$db_user" -v db_password="$XOP_DB_PASSWORD" <<'SQL'
CREATE ROLE :"db_user" LOGIN PASSWORD :'db_password';
CREATE DATABASE :"db_name" OWNER :"db_user";
SQL
echo "created database ${db_name} owned by ${db_user}"
