# Helpers shared by scripts/local-cluster.sh, scripts/real-node.sh and scripts/images.sh
# (sourced). The process helpers need DIR (pids/ and logs/ live there).

# Messages on stderr, prefixed with the script's name and the time.
log() { printf '[%s %s] %s\n' "$(basename "$0" .sh)" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_proc NAME BINARY ARGS...: background process, its PID in pids/NAME.pid and its program
# name in pids/NAME.bin (so a recycled PID is never taken for ours).
start_proc() {
  local name=$1; shift
  basename "$1" >"$DIR/pids/$name.bin"
  "$@" >"$DIR/logs/$name.log" 2>&1 &
  echo $! >"$DIR/pids/$name.pid"
  log "$name started (pid $!, log $DIR/logs/$name.log)"
}

# PID of a recorded process, only while it is still the program we started.
live_pid() {
  local f=$DIR/pids/$1.pid pid exe
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -d "/proc/$pid" ] || return 1
  exe=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -d' ' -f1)
  [ "$(basename "$exe")" = "$(cat "$DIR/pids/$1.bin" 2>/dev/null || echo "$1")" ] || return 1
  echo "$pid"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
  log "$what ready"
}
