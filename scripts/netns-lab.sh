#!/usr/bin/env bash
# The bwnode lab with every node as a separate host: each node runs in its own
# network namespace with its own address on a private bridge (10.77.0.0/24).
# The bridge itself lives in a namespace of its own, so nothing is added to the
# host's network and no namespace has a route anywhere else: traffic can only
# flow between the lab's hosts.
#
# Rates are enforced by the kernel (tc tbf: the node's uplink on its side of
# the veth, its downlink on the bridge side); the one-way delays (access latency
# and distance) still come from bwnode's own link emulator, because kernels
# without netem are common. Seeds a dataset on every node but the consumer,
# fetches it on the consumer through the DHT and prints the result. With
# --live-out, the consumer then runs `bwnode experiment --live` against the
# lab's hosts (the real-network experiment across separate machines) and
# writes its report there.
#
# Needs root, iproute2, setpriv (util-linux) and curl.
# Usage (as root): scripts/netns-lab.sh [--nodes lab-consumer,lab-home-1km,lab-origin]
#   [--nodes-dir DIR] [--seed NAME] [--scale X] [--out DIR] [--live-out DIR] [--keep-running]
# Prints one line "netns-lab result <json>" (the fetch result) on success, and
# with --live-out one line "netns-lab live <json>" (the experiment's verdicts).
# Everything it creates (namespaces, processes, temp dirs) is removed on exit;
# leftovers of a run that was SIGKILLed are swept by the next run.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/netns-common.sh
. "$REPO/scripts/netns-common.sh"
lab_setup netns-lab

NODES_DIR="$REPO/node-configs"
NODES=""
SEED="shards"
SCALE="0.03125"
OUT=""
LIVE_OUT=""
KEEP_RUNNING=0
SUBNET_PREFIX="10.77.0"
FIRST_HOST=10
P2P_PORT=4010
READY_TIMEOUT_S=60

while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES="$2"; shift 2 ;;
    --nodes-dir) NODES_DIR="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --scale) SCALE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --live-out) LIVE_OUT="$2"; shift 2 ;;
    --keep-running) KEEP_RUNNING=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

lab_begin netns "${BWLAB_PREFIX:-bwlab}" ip setpriv curl
SWITCH="$PREFIX-sw"

# Which configs: --nodes names, or every lab-*.json; the consumer goes first (it bootstraps the rest).
if [ -z "$NODES" ]; then
  NODES="$(cd "$NODES_DIR" && ls lab-*.json | sed 's/\.json$//' | paste -sd, -)"
fi
IFS=',' read -r -a NAMES <<<"$NODES"
ORDERED=()
for name in "${NAMES[@]}"; do [[ "$name" == *consumer* ]] && ORDERED+=("$name"); done
[ "${#ORDERED[@]}" = 1 ] || die "--nodes needs exactly one consumer node, got: $NODES"
for name in "${NAMES[@]}"; do [[ "$name" == *consumer* ]] || ORDERED+=("$name"); done
[ "${#ORDERED[@]}" -ge 2 ] || die "a lab needs the consumer and at least one other node"
[ "${#ORDERED[@]}" -le 200 ] || die "at most 200 nodes fit in $SUBNET_PREFIX.0/24"

# Reads a lab config: prints "<uplinkMbps> <downlinkMbps>" (0 = no cap) and writes the
# netns variant: rates removed from the emulated link (tc enforces them instead).
derive_config() {
  "$NODE" -e '
    const fs = require("node:fs")
    const config = JSON.parse(fs.readFileSync(process.argv[1], "utf8"))
    const link = config.link ?? {}
    process.stdout.write(`${link.uplinkMbps ?? 0} ${link.downlinkMbps ?? 0}\n`)
    if (config.link) config.link = { ...config.link, uplinkMbps: 0, downlinkMbps: 0 }
    config.mdns = false
    fs.writeFileSync(process.argv[2], JSON.stringify(config, null, 2))
  ' "$1" "$2"
}

# tc tbf at RATE Mbit/s on DEV in NS (skipped for 0 = unlimited); burst of ~4 ms, at least 32 KiB.
shape() {
  tbf_rate "$1" "$2" "$3" || log "tc tbf unavailable on $1/$2: $3 Mbit/s not enforced"
}

log "switch namespace $SWITCH, nodes: ${ORDERED[*]}"
ip netns add "$SWITCH"
NAMESPACES+=("$SWITCH")
ip -n "$SWITCH" link set lo up
ip -n "$SWITCH" link add br0 type bridge
ip -n "$SWITCH" link set br0 up

declare -A ADDR NS DATA
index=0
for name in "${ORDERED[@]}"; do
  [ -f "$NODES_DIR/$name.json" ] || die "no config $NODES_DIR/$name.json"
  ns="$PREFIX-n$index"
  addr="$SUBNET_PREFIX.$((FIRST_HOST + index))"
  ip netns add "$ns"
  NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
  ip -n "$SWITCH" link add "v$index" type veth peer name eth0 netns "$ns"
  ip -n "$SWITCH" link set "v$index" master br0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  read -r up down < <(derive_config "$NODES_DIR/$name.json" "$WORK/$name.json")
  shape "$ns" eth0 "$up"
  shape "$SWITCH" "v$index" "$down"
  ADDR[$name]="$addr"
  NS[$name]="$ns"
  DATA[$name]="$WORK/$name"
  mkdir -p "$WORK/$name"
  log "$name: namespace $ns, address $addr, uplink ${up} Mbit/s, downlink ${down} Mbit/s (0 = uncapped)"
  index=$((index + 1))
done

# Runs the bwnode CLI inside a node's namespace against that node's daemon.
cli() {
  local name="$1"
  shift
  ip netns exec "${NS[$name]}" "$NODE" "$BIN" "$@" --data "${DATA[$name]}"
}

# Calls a node's HTTP API (127.0.0.1 inside its own namespace): api NAME METHOD PATH [JSON].
# Cheaper than a CLI process per poll; the token comes from the node's api.json.
api() {
  local name="$1" method="$2" path="$3" body="${4:-}"
  local file="${DATA[$name]}/api.json" url token
  url="$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$file")"
  token="$(sed -n 's/.*"token": *"\([^"]*\)".*/\1/p' "$file")"
  if [ -n "$body" ]; then
    ip netns exec "${NS[$name]}" curl -sS --fail-with-body -X "$method" -H "authorization: Bearer $token" \
      -H 'content-type: application/json' --data "$body" "$url$path"
  else
    ip netns exec "${NS[$name]}" curl -sS --fail-with-body -X "$method" "$url$path"
  fi
}

wait_ready() {
  ready_line "$WORK/$1.log" "$READY_TIMEOUT_S" || die "$1 not ready after ${READY_TIMEOUT_S}s"
}

BOOTSTRAP=()
for name in "${ORDERED[@]}"; do
  # setpriv --pdeathsig: the daemon dies with this script even if it is SIGKILLed.
  ip netns exec "${NS[$name]}" setpriv --pdeathsig KILL -- \
    "$NODE" "$BIN" start --config "$WORK/$name.json" --data "${DATA[$name]}" \
    --listen "/ip4/${ADDR[$name]}/tcp/$P2P_PORT" --api-port 0 "${BOOTSTRAP[@]}" \
    >"$WORK/$name.log" 2>&1 &
  PIDS+=("$!")
  if [ "${#BOOTSTRAP[@]}" = 0 ]; then
    ready="$(wait_ready "$name")"
    peer="$(echo "$ready" | awk '{print $3}')"
    BOOTSTRAP=(--bootstrap "/ip4/${ADDR[$name]}/tcp/$P2P_PORT/p2p/$peer")
    log "$name ready: $peer at ${ADDR[$name]}"
  fi
done
for name in "${ORDERED[@]:1}"; do
  ready="$(wait_ready "$name")"
  log "$name ready: $(echo "$ready" | awk '{print $3}') at ${ADDR[$name]}"
done

CONSUMER="${ORDERED[0]}"
PROVIDERS=("${ORDERED[@]:1}")

# Wait until every node has a DHT peer, then seed on the providers.
for name in "${ORDERED[@]}"; do
  joined=0
  for _ in $(seq 1 300); do
    if api "$name" GET /api/status | grep -Eq '"dhtRoutingTableSize": *[1-9]'; then joined=1; break; fi
    sleep 0.1
  done
  [ "$joined" = 1 ] || die "$name never joined the DHT"
done

CID=""
for name in "${PROVIDERS[@]}"; do
  info="$(api "$name" POST /api/seeds "{\"name\":\"$SEED\",\"scale\":$SCALE}")" || die "seed on $name failed: $info"
  cid="$(echo "$info" | sed -n 's/.*"cid": *"\([^"]*\)".*/\1/p')"
  [ -n "$cid" ] || die "seed on $name returned no CID: $info"
  [ -z "$CID" ] || [ "$CID" = "$cid" ] || die "seed $SEED gave different CIDs ($CID, $cid)"
  CID="$cid"
  log "$name seeded $SEED x$SCALE: $CID"
done
for name in "${PROVIDERS[@]}"; do
  provided=0
  for _ in $(seq 1 300); do
    if api "$name" GET /api/datasets | grep -Eq '"provided": *true'; then provided=1; break; fi
    sleep 0.1
  done
  [ "$provided" = 1 ] || die "$name never announced $CID on the DHT"
done

FETCH_OUT="${OUT:-$WORK/fetched}"
log "$CONSUMER fetches $CID through the DHT into $FETCH_OUT"
result="$(cli "$CONSUMER" fetch "$CID" --out "$FETCH_OUT" --json)"
peers="$(api "$CONSUMER" GET /api/peers)"
"$NODE" -e '
  const [result, peers, names] = process.argv.slice(1)
  const fetched = JSON.parse(result)
  const addrs = Object.fromEntries(JSON.parse(peers).map((p) => [p.peerId, p.addrs]))
  const providers = (fetched.providers ?? []).filter((p) => p.bytes > 0)
  for (const p of providers)
    console.error(`netns-lab:   ${p.peerId.slice(-8)} at ${(addrs[p.peerId] ?? []).join(" ")}: ${(p.bytes / 1e6).toFixed(1)} MB, rtt ${p.rttMs ?? "?"} ms`)
  console.error(`netns-lab: fetched ${(fetched.bytes / 1e6).toFixed(1)} MB in ${fetched.seconds.toFixed(2)} s from ${providers.length} hosts`)
  console.log(`netns-lab result ${JSON.stringify({ ...fetched, providerAddrs: addrs, nodes: names.split(",") })}`)
' "$result" "$peers" "$(IFS=,; echo "${ORDERED[*]}")"

if [ -n "$LIVE_OUT" ]; then
  # The consumer now holds the dataset too: the experiment measures its local copy against each
  # host that has it, over the lab's kernel-shaped links, and pays them like any fetch.
  log "$CONSUMER runs the live experiment on $CID into $LIVE_OUT"
  live="$(cli "$CONSUMER" experiment --live --cid "$CID" --out "$LIVE_OUT" --json)" || die "live experiment failed"
  echo "netns-lab live $("$NODE" -e 'console.log(JSON.stringify(JSON.parse(process.argv[1])))' "$live")"
fi

if [ "$KEEP_RUNNING" = 1 ]; then
  log "running; Ctrl-C removes everything. APIs (inside each namespace):"
  for name in "${ORDERED[@]}"; do log "  $name: ip netns exec ${NS[$name]} ... --data ${DATA[$name]}"; done
  wait
fi
