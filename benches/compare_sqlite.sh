#!/usr/bin/env bash
# zsso against the sqlite3 client on the same data, in one run: backup vs `sqlite3 .dump`,
# restore vs `sqlite3 new.db < dump`. Prints medians of RUNS runs, the ratio zsso / sqlite3,
# and zsso's peak resident memory at each size. The two tools take turns going first, each
# after a sync.
#
#   bash benches/compare_sqlite.sh [USERS ...]        (default: 10000 100000; RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000)
cargo build --release -q -p zsso-cli
ZSSO=$PWD/target/release/zsso
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# seconds and peak KB of one command: "SECONDS KB"
measure() { /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1; cat "$work/time"; }
# The median; of an even number of runs, the mean of the middle two.
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2] + a[NR/2+1]) / 2}'; }

printf '%s\n' "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sqlite3 --version | cut -d' ' -f1) client, zsso $($ZSSO --version | cut -d' ' -f2)"
printf '%-8s %-8s %10s %10s %7s %12s\n' users op zsso_s sqlite3_s ratio zsso_peak_MiB
for n in "${sizes[@]}"; do
  db=$work/src-$n.db
  python3 benches/gen_sqlite.py "$n" "$db" >/dev/null
  zb=(); zbm=(); sb=(); zr=(); zrm=(); sr=()
  # sync first: no run pays for writing back what the run before it wrote.
  z_backup() { rm -rf "$work/b"; sync; read -r t m < <(measure "$ZSSO" backup --db "sqlite://$db" --out "$work/b"); zb+=("$t"); zbm+=("$m"); }
  v_backup() { sync; read -r t _ < <(measure sh -c "sqlite3 '$db' '.dump zato_sso_%' > '$work/native.sql'"); sb+=("$t"); }
  z_restore() { rm -f "$work/r.db"; sync; read -r t m < <(measure "$ZSSO" restore "$work/b" --db "sqlite://$work/r.db"); zr+=("$t"); zrm+=("$m"); }
  v_restore() { rm -f "$work/n.db"; sync; read -r t _ < <(measure sh -c "sqlite3 '$work/n.db' < '$work/native.sql'"); sr+=("$t"); }
  for i in $(seq "$RUNS"); do
    # Each tool goes first in every other run.
    if [ $((i % 2)) = 1 ]; then z_backup; v_backup; z_restore; v_restore
    else v_backup; z_backup; v_restore; z_restore; fi
  done
  for op in backup restore; do
    if [ $op = backup ]; then z=$(printf '%s\n' "${zb[@]}" | median); s=$(printf '%s\n' "${sb[@]}" | median); m=$(printf '%s\n' "${zbm[@]}" | sort -n | tail -1)
    else z=$(printf '%s\n' "${zr[@]}" | median); s=$(printf '%s\n' "${sr[@]}" | median); m=$(printf '%s\n' "${zrm[@]}" | sort -n | tail -1); fi
    printf '%-8s %-8s %10s %10s %7.2f %12.1f\n' "$n" "$op" "$z" "$s" "$(echo "$z / $s" | bc -l)" "$(echo "$m / 1024" | bc -l)"
  done
done
