# Shared by the network-namespace labs (scripts/netns-lab.sh, scripts/nat-lab.sh): their preamble
# (messages, root and tool checks, a clean environment, the temp dir, the exit trap) and removing
# what a lab made, now and after a run that was killed before its trap ran. Sourced, not run.
# A lab names its namespaces "<prefix>-<its pid>-..." and its temp dir "bwnode-<kind>-<pid>-...",
# so an owner that is gone marks its leftovers.

# lab_setup NAME: names the lab in its messages; BIN and NODE (the project's Node, else PATH's).
lab_setup() {
  LAB_NAME="$1"
  BIN="$REPO/bin/bwnode.js"
  NODE="$REPO/node_modules/.bin/node"
  [ -x "$NODE" ] || NODE="$(command -v node)"
}
die() { echo "$LAB_NAME: $*" >&2; exit 1; }
log() { echo "$LAB_NAME: $*" >&2; }
# usage: the script's opening comment (line 2 up to the first line that is not a comment).
usage() { sed -n '2,/^[^#]/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

# lab_begin KIND NAMESPACE_BASE TOOL...: checks for root and the tools, clears the caller's
# BWNODE_* variables (a daemon must not pick up the caller's data dir, ports or bootstrap list),
# makes the temp dir WORK, sets PREFIX (namespace names, "<base>-<pid>"), arms the trap that
# removes everything on exit, and sweeps what killed runs left behind.
lab_begin() {
  local kind="$1" base="$2" tool var
  shift 2
  [ "$(id -u)" = "0" ] || die "needs root (network namespaces)"
  for tool in "$@"; do command -v "$tool" >/dev/null || die "needs $tool"; done
  while read -r var; do unset "$var"; done < <(compgen -e | grep '^BWNODE_' || true)
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/bwnode-$kind-$$-XXXXXX")"
  PREFIX="$base-$$"
  NAMESPACES=()
  PIDS=()
  trap lab_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  sweep_stale_netns "$base" "$kind"
}

# The exit trap: on failure the tail of every log in WORK, then everything the lab made removed.
lab_cleanup() {
  local status=$? f
  # A second signal must not cut the cleanup short (timeout and the shell both get one).
  trap - EXIT
  trap '' INT TERM
  if [ "$status" != 0 ]; then
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  fi
  remove_lab "${NAMESPACES[@]}"
  log "removed namespaces, processes and $WORK"
  exit "$status"
}

# sweep_stale_netns NAMESPACE_PREFIX TEMPDIR_KIND: namespaces "<prefix>-<pid>-*" and temp dirs
# "${TMPDIR:-/tmp}/bwnode-<kind>-<pid>-*" whose pid is no longer running.
sweep_stale_netns() {
  local prefix="$1" kind="$2" ns owner dir
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${prefix}-[0-9]+-" || true); do
    owner="${ns#"$prefix"-}"
    owner="${owner%%-*}"
    if ! kill -0 "$owner" 2>/dev/null; then
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
      ip netns delete "$ns" 2>/dev/null || true
    fi
  done
  for dir in "${TMPDIR:-/tmp}"/bwnode-"$kind"-*-*; do
    [ -d "$dir" ] || continue
    owner="$(basename "$dir" | sed -E "s/^bwnode-$kind-([0-9]+)-.*/\\1/")"
    [[ "$owner" =~ ^[0-9]+$ ]] || continue
    kill -0 "$owner" 2>/dev/null || rm -rf "$dir"
  done
}

# remove_lab NAMESPACE...: stops the lab's processes (PIDS; TERM, then up to 5 s), kills what
# is left in the namespaces, deletes them and the lab's temp dir (WORK).
remove_lab() {
  local pid ns alive
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for ns in "$@"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns delete "$ns" 2>/dev/null || true
  done
  rm -rf "$WORK"
}

# ready_line LOGFILE TIMEOUT_S: waits for a daemon's "bwnode ready ..." line and prints it; on
# timeout prints the log to stderr and fails.
ready_line() {
  local logfile="$1" timeout_s="$2"
  for _ in $(seq 1 $((timeout_s * 10))); do
    if grep -q '^bwnode ready ' "$logfile" 2>/dev/null; then
      grep -m1 '^bwnode ready ' "$logfile"
      return 0
    fi
    sleep 0.1
  done
  cat "$logfile" >&2 || true
  return 1
}

# tbf_rate NS DEV MBPS: caps what leaves DEV in NS at MBPS Mbit/s with tc tbf (burst of ~4 ms, at
# least 32 KiB); 0 = no cap. Fails when tc tbf is unavailable.
tbf_rate() {
  local ns="$1" dev="$2" mbps="$3" kbit burst
  [ "$mbps" = "0" ] && return 0
  kbit="$(awk -v m="$mbps" 'BEGIN { printf "%d", m * 1000 }')"
  burst="$(awk -v k="$kbit" 'BEGIN { b = k * 1000 / 8 * 0.004; if (b < 32768) b = 32768; printf "%d", b }')"
  ip netns exec "$ns" tc qdisc replace dev "$dev" root tbf rate "${kbit}kbit" burst "$burst" latency 50ms 2>/dev/null
}
