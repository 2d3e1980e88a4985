#!/bin/sh
# PostgreSQL for the replicated cloud topology: create the cluster on first start with the password from
# $EDGEWATCH_DB_PASSWORD (handed to initdb in a 0600 file, never as an argument), then run the server in
# the foreground, without the password in its environment. Connections from the container network need
# the password (scram-sha-256).
set -eu
: "${EDGEWATCH_DB_PASSWORD:?set EDGEWATCH_DB_PASSWORD}"
bin=/usr/lib/postgresql/15/bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    umask 077
    pwfile=$(mktemp)
    printf '%s\n' "$EDGEWATCH_DB_PASSWORD" > "$pwfile"
    "$bin/initdb" -D "$PGDATA" -U edgewatch --pwfile="$pwfile" \
        --auth-local=peer --auth-host=scram-sha-256 -E UTF8 >/dev/null
    rm -f "$pwfile"
    echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
fi
unset EDGEWATCH_DB_PASSWORD
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql
