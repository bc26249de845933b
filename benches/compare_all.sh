#!/usr/bin/env bash
# zsso against each database's own tools, the three databases in one run: sqlite3 .dump and
# sqlite3 <, pg_dump and psql -1 -f, mysqldump and mysql <, on the same generated data at each
# size. Each part prints medians of RUNS runs, the ratio zsso / vendor and zsso's peak memory.
#
#   bash benches/compare_all.sh [USERS ...]    (default: 10000 100000; RUNS=3; the servers as
#                                               in compare_postgres.sh and compare_mysql.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
for db in sqlite postgres mysql; do
  printf '\n== %s\n' "$db"
  bash "benches/compare_$db.sh" "$@"
done
