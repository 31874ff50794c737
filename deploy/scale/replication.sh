#!/bin/sh
# Run once by the postgres image when it creates the primary's data
# directory (/docker-entrypoint-initdb.d): lets the replica connect for
# streaming replication with the superuser's password.
set -e
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
