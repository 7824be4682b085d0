#!/bin/sh
# PostgreSQL's first start (docker-entrypoint-initdb.d): one login role per service, owner of its own schema only.
# Passwords come from PMO_DB_PASSWORD_<SERVICE>, required, at least 24 characters of [A-Za-z0-9_-] (they travel
# in the services' connection URLs).
set -eu
for service in projects budget resources invoicing reporting; do
  variable="PMO_DB_PASSWORD_$(echo "$service" | tr '[:lower:]' '[:upper:]')"
  password="$(printenv "$variable" || true)"
  case "$password" in
    *[!A-Za-z0-9_-]*) echo "$variable may hold only A-Z a-z 0-9 _ -" >&2; exit 1 ;;
  esac
  if [ "${#password}" -lt 24 ]; then
    echo "$variable must be set to at least 24 characters" >&2
    exit 1
  fi
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v role="pmo_$service" -v schema="$service" -v password="$password" -f /etc/pmo/postgres/roles.sql
done
