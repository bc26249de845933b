# Sourced by compare_postgres.sh and compare_mysql.sh: `settle NAME` waits until the server
# whose processes are called NAME (postgres, mariadbd) has used no CPU for two seconds in a row,
# so that no timed run pays for background work (a checkpoint, autovacuum, InnoDB's flushing
# and purge) that the run before it left, whichever tool made it. It gives up after 300 s,
# saying so.

# CPU ticks (user and system) of every process called $1, threads included. A process can end
# between the glob and its read: cat goes on past it (awk given the files itself stops with a
# fatal error, which under `set -e` ended the calling script without a word).
server_ticks() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v n="($1)" '$2 == n { s += $14 + $15 } END { print s + 0 }'
}

settle() {
  local quiet=0 a b
  for _ in $(seq 300); do
    a=$(server_ticks "$1")
    sleep 1
    b=$(server_ticks "$1")
    if [ $((b - a)) -le 2 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    [ "$quiet" -ge 2 ] && return 0
  done
  echo "settle: $1 still busy after 300 s" >&2
}
