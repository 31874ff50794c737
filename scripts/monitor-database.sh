#!/usr/bin/env bash
# monitor-database.sh: the predecessor's database monitoring script, kept as a
# thin wrapper for its users. The work is done by `waybill monitor` (SPEC 8,
# docs/monitoring.md); every argument is passed on, e.g.
#
#   scripts/monitor-database.sh --long-query 10s --format json
#
# The predecessor's thresholds are the defaults: connection utilization
# warning from 60 %, critical above 80 %; available connections warning below
# 50, critical below 20 (scaled to 50 % and 20 % of the usable connections on
# servers with fewer than 100); queries over 30s; idle in transaction over 5m;
# unused indexes over 1MB; cache hit ratio below 99 %.
#
# Exit status: 0 ok, 1 warning, 2 critical, 3 cannot connect (Nagios).
#
# `watch -n 30 scripts/monitor-database.sh` works: colours are off when the
# output is not a terminal (or with --no-color / NO_COLOR). Without watch(1),
# `scripts/monitor-database.sh --watch 30s` repeats the report itself.
#
# It runs the waybill binary on PATH, or else `go run .` in the repository
# this script lives in.
set -euo pipefail

if command -v waybill >/dev/null 2>&1; then
	exec waybill monitor "$@"
fi
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
exec go run . monitor "$@"
