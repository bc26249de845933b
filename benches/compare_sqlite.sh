#!/usr/bin/env bash
# zsso against the sqlite3 client on the same data, in one run: backup vs `sqlite3 .dump`,
# restore vs `sqlite3 new.db < dump`. Prints medians of RUNS runs, the ratio zsso / sqlite3,
# and zsso's peak resident memory at each size.
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
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%s\n' "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sqlite3 --version | cut -d' ' -f1) client, zsso $($ZSSO --version | cut -d' ' -f2)"
printf '%-8s %-8s %10s %10s %7s %12s\n' users op zsso_s sqlite3_s ratio zsso_peak_MiB
for n in "${sizes[@]}"; do
  db=$work/src-$n.db
  python3 benches/gen_sqlite.py "$n" "$db" >/dev/null
  zb=(); zbm=(); sb=(); zr=(); zrm=(); sr=()
  for i in $(seq "$RUNS"); do
    rm -rf "$work/b"
    read -r t m < <(measure "$ZSSO" backup --db "sqlite://$db" --out "$work/b"); zb+=("$t"); zbm+=("$m")
    read -r t _ < <(measure sh -c "sqlite3 '$db' '.dump zato_sso_%' > '$work/native.sql'"); sb+=("$t")
    rm -f "$work/r.db"
    read -r t m < <(measure "$ZSSO" restore "$work/b" --db "sqlite://$work/r.db"); zr+=("$t"); zrm+=("$m")
    rm -f "$work/n.db"
    read -r t _ < <(measure sh -c "sqlite3 '$work/n.db' < '$work/native.sql'"); sr+=("$t")
  done
  for op in backup restore; do
    if [ $op = backup ]; then z=$(printf '%s\n' "${zb[@]}" | median); s=$(printf '%s\n' "${sb[@]}" | median); m=$(printf '%s\n' "${zbm[@]}" | sort -n | tail -1)
    else z=$(printf '%s\n' "${zr[@]}" | median); s=$(printf '%s\n' "${sr[@]}" | median); m=$(printf '%s\n' "${zrm[@]}" | sort -n | tail -1); fi
    printf '%-8s %-8s %10s %10s %7.2f %12.1f\n' "$n" "$op" "$z" "$s" "$(echo "$z / $s" | bc -l)" "$(echo "$m / 1024" | bc -l)"
  done
done
