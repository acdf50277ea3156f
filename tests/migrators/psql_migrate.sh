#!/bin/sh
# A small migration runner, as an app ships one: applies DIR/*.sql (not *.down.sql) that migrations.applied does not
# list, each file in one transaction through psql, then records its name. Connects with DATABASE_URL.
set -eu
dir=$1
applied=$(psql "$DATABASE_URL" -X -A -t -v ON_ERROR_STOP=1 -c "select name from migrations.applied")
for file in "$dir"/*.sql; do
    case "$file" in *.down.sql) continue ;; esac
    name=$(basename "$file" .sql)
    if printf '%s\n' "$applied" | grep -qx "$name"; then
        continue
    fi
    psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 --single-transaction -f "$file"
    psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -c "insert into migrations.applied (name) values ('$name')"
done
