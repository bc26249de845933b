#!/usr/bin/env bash
# zsso against pg_dump and psql on the same PostgreSQL data, in one run: backup vs
# `pg_dump -t 'zato_sso_*'` (with the seven sequences, which `-t` alone leaves out), restore vs
# `psql -1 -f` of pg_dump's own dump into an empty database. Prints medians of RUNS runs, the
# ratio zsso / vendor, and zsso's peak resident memory at each size. Each timed run starts with
# the server idle (benches/settle.sh), and zsso and the vendor's tool take turns going first.
#
#   bash benches/compare_postgres.sh [USERS ...]    (default: 10000 100000; RUNS=3;
#                                                   PG=postgres://postgres@127.0.0.1:5432)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000)
cargo build --release -q -p zsso-cli
ZSSO=$PWD/target/release/zsso
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  for d in zsso_bench_src zsso_bench_dst; do psql -q -d "$PG/postgres" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" 2>/dev/null || true; done
}
trap cleanup EXIT

measure() { /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1; cat "$work/time"; }
# The median; of an even number of runs, the mean of the middle two.
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2] + a[NR/2+1]) / 2}'; }
fresh() { psql -q -d "$PG/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null; }
. benches/settle.sh
quiet() { psql -q -d "$PG/postgres" -c CHECKPOINT; settle postgres; }

printf '%s\n' "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(psql -d "$PG/postgres" -Atc 'SHOW server_version' | cut -d' ' -f1) server on the same machine, zsso $($ZSSO --version | cut -d' ' -f2)"
printf '%-8s %-8s %10s %10s %7s %12s\n' users op zsso_s vendor_s ratio zsso_peak_MiB
for n in "${sizes[@]}"; do
  fresh zsso_bench_src
  psql -q -d "$PG/zsso_bench_src" -f tests/fixtures/zato-3.2-postgresql/zato-sso.sql >/dev/null
  psql -q -d "$PG/zsso_bench_src" -v users="$n" -f benches/gen_postgres.sql >/dev/null
  # The generated rows' hint bits and statistics are set now, not by whichever tool reads first.
  psql -q -d "$PG/zsso_bench_src" -c "VACUUM (ANALYZE)"
  zb=(); zbm=(); vb=(); zr=(); zrm=(); vr=()
  z_backup() { rm -rf "$work/b"; quiet; read -r t m < <(measure "$ZSSO" backup --db "$PG/zsso_bench_src" --out "$work/b"); zb+=("$t"); zbm+=("$m"); }
  v_backup() { quiet; read -r t _ < <(measure pg_dump -d "$PG/zsso_bench_src" -t 'zato_sso_*' -f "$work/native.sql"); vb+=("$t"); }
  z_restore() { fresh zsso_bench_dst; quiet; read -r t m < <(measure "$ZSSO" restore "$work/b" --db "$PG/zsso_bench_dst"); zr+=("$t"); zrm+=("$m"); }
  v_restore() { fresh zsso_bench_dst; quiet; read -r t _ < <(measure psql -q -1 -v ON_ERROR_STOP=1 -d "$PG/zsso_bench_dst" -f "$work/native.sql"); vr+=("$t"); }
  for i in $(seq "$RUNS"); do
    # Each tool goes first in every other run, and each starts with the server idle.
    if [ $((i % 2)) = 1 ]; then z_backup; v_backup; z_restore; v_restore
    else v_backup; z_backup; v_restore; z_restore; fi
  done
  for op in backup restore; do
    if [ $op = backup ]; then z=$(printf '%s\n' "${zb[@]}" | median); s=$(printf '%s\n' "${vb[@]}" | median); m=$(printf '%s\n' "${zbm[@]}" | sort -n | tail -1)
    else z=$(printf '%s\n' "${zr[@]}" | median); s=$(printf '%s\n' "${vr[@]}" | median); m=$(printf '%s\n' "${zrm[@]}" | sort -n | tail -1); fi
    printf '%-8s %-8s %10s %10s %7.2f %12.1f\n' "$n" "$op" "$z" "$s" "$(echo "$z / $s" | bc -l)" "$(echo "$m / 1024" | bc -l)"
  done
done
