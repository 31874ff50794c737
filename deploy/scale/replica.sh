#!/bin/sh
# The replica's entrypoint: on a new volume, copy the primary with
# pg_basebackup -R (which writes standby.signal and primary_conninfo),
# then run as a hot standby.
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	until pg_isready -h db -U postgres; do sleep 1; done
	PGPASSWORD=postgres pg_basebackup -h db -U postgres -D "$PGDATA" -R -X stream
	chmod 0700 "$PGDATA"
fi
exec postgres -c max_connections=150 -c hot_standby=on
