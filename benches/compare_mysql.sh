#!/usr/bin/env bash
# zsso against mysqldump and the mysql client on the same MySQL/MariaDB data, in one run:
# backup vs `mysqldump --single-transaction` of the seven tables, restore vs `mysql DB <` of
# mysqldump's own dump into an empty database. Prints medians of RUNS runs, the ratio
# zsso / vendor, and zsso's peak resident memory at each size.
# Each timed run starts with the server idle (benches/settle.sh), and zsso and the vendor's
# tool take turns going first.
#
#   bash benches/compare_mysql.sh [USERS ...]   (default: 10000 100000; RUNS=3;
#                                                MY="-uroot -h127.0.0.1 -P3306", URL=mysql://root@127.0.0.1:3306)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
MY=${MY:--uroot -h127.0.0.1 -P3306 --protocol=tcp}
URL=${URL:-mysql://root@127.0.0.1:3306}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000)
cargo build --release -q -p zsso-cli
ZSSO=$PWD/target/release/zsso
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  mysql $MY -e "DROP DATABASE IF EXISTS zsso_bench_src; DROP DATABASE IF EXISTS zsso_bench_dst" 2>/dev/null || true
}
trap cleanup EXIT
TABLES="zato_sso_group zato_sso_user zato_sso_user_group zato_sso_session zato_sso_attr zato_sso_linked_auth zato_sso_password_reset"

measure() { /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1; cat "$work/time"; }
# The median; of an even number of runs, the mean of the middle two.
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2] + a[NR/2+1]) / 2}'; }
fresh() { mysql $MY -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1 CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"; }
. benches/settle.sh
# Idle, and with the buffer pool's dirty pages written out (InnoDB flushes slowly when idle).
quiet() {
  settle mariadbd
  for _ in $(seq 120); do
    [ "$(mysql $MY -N -e "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'" | cut -f2)" -le 100 ] && break
    sleep 1
  done
}

printf '%s\n' "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(mysql $MY -N -e 'SELECT VERSION()') server on the same machine, zsso $($ZSSO --version | cut -d' ' -f2)"
printf '%-8s %-8s %10s %10s %7s %12s\n' users op zsso_s vendor_s ratio zsso_peak_MiB
for n in "${sizes[@]}"; do
  fresh zsso_bench_src
  mysql $MY zsso_bench_src < tests/fixtures/zato-3.2-mysql/zato-sso.sql
  python3 benches/gen_mysql.py "$n" | mysql $MY zsso_bench_src
  zb=(); zbm=(); vb=(); zr=(); zrm=(); vr=()
  z_backup() { rm -rf "$work/b"; quiet; read -r t m < <(measure "$ZSSO" backup --db "$URL/zsso_bench_src" --out "$work/b"); zb+=("$t"); zbm+=("$m"); }
  v_backup() { quiet; read -r t _ < <(measure sh -c "mysqldump $MY --single-transaction zsso_bench_src $TABLES > '$work/native.sql'"); vb+=("$t"); }
  z_restore() { fresh zsso_bench_dst; quiet; read -r t m < <(measure "$ZSSO" restore "$work/b" --db "$URL/zsso_bench_dst"); zr+=("$t"); zrm+=("$m"); }
  v_restore() { fresh zsso_bench_dst; quiet; read -r t _ < <(measure sh -c "mysql $MY zsso_bench_dst < '$work/native.sql'"); vr+=("$t"); }
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
