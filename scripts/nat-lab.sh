#!/usr/bin/env bash
# The NAT lab: home machines behind NAT routers, on one machine, in network namespaces.
#
#   "internet" (a bridge in its own namespace, 88.77.0.0/24: a public-looking range, since libp2p
#   treats the documentation and carrier-grade ranges as private; no namespace has a route to the
#   host, so nothing leaves the lab)
#     ├── pub: the public bootstrap node and circuit relay, 88.77.0.2
#     ├── router r0 (88.77.0.10) ── LAN 192.168.10.0/24 ── home h0   NAT: eim
#     ├── router r1 (88.77.0.11) ── LAN 192.168.11.0/24 ── home h1   NAT: eim
#     ├── router r2 (88.77.0.12) ── LAN 192.168.12.0/24 ── home h2   NAT: sym
#     └── router r3 (88.77.0.13) ── LAN 192.168.13.0/24 ── home h3   NAT: upnp
#
# NAT types (nftables on each router):
#   eim   masquerade: endpoint-independent mapping (the source port is kept), the filtering of
#         Linux conntrack (only replies from where a connection went): a common home router.
#   sym   masquerade fully-random: a new random port per connection (a symmetric NAT).
#   upnp  eim plus miniupnpd, which maps ports for LAN hosts that ask (UPnP IGD).
#
# Then runs scripts/nat-lab/driver.ts: for every pair of home nodes, repeated connection trials
# (direct or relayed, time to connect; hole punching success) and a fetch of a dataset the one
# seeded, checked against the seed recipe by the caller; prints the table.
#
# Needs root, iproute2, nftables (nft), miniupnpd (nftables build), setpriv, curl; conntrack is
# used when present (routers' NAT state is flushed between trials, so each trial starts cold).
# Usage (as root): scripts/nat-lab.sh [--nat eim,eim,sym,upnp] [--trials N] [--relay-mbps R]
#   [--out DIR] [--keep-running]
# --relay-mbps caps the relay's uplink (tc tbf on its side of the internet): every relayed byte
# leaves the relay once, so it caps relayed throughput as a relay operator's line would.
# Prints "nat-lab result <json>" on success. Everything it creates (namespaces, processes, temp
# dirs) is removed on exit; leftovers of a run that was SIGKILLed are swept by the next run.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/netns-common.sh
. "$REPO/scripts/netns-common.sh"
lab_setup nat-lab

NATS="eim,eim,sym,upnp"
TRIALS=5
RELAY_MBPS=0
OUT=""
KEEP_RUNNING=0
INET="88.77.0"
RELAY_ADDR="$INET.2"
P2P_PORT=4010
READY_TIMEOUT_S=60

while [ $# -gt 0 ]; do
  case "$1" in
    --nat) NATS="$2"; shift 2 ;;
    --trials) TRIALS="$2"; shift 2 ;;
    --relay-mbps) RELAY_MBPS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --keep-running) KEEP_RUNNING=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

IFS=',' read -r -a TYPES <<<"$NATS"
[ "${#TYPES[@]}" -ge 2 ] || die "--nat needs at least two home networks"
for t in "${TYPES[@]}"; do
  case "$t" in eim|sym) ;; upnp) command -v miniupnpd >/dev/null || die "needs miniupnpd for a upnp router" ;; *) die "unknown NAT type $t (eim, sym, upnp)" ;; esac
done

lab_begin natlab "${NATLAB_PREFIX:-natlab}" ip nft setpriv curl

netns() {
  ip netns add "$1"
  NAMESPACES+=("$1")
  ip -n "$1" link set lo up
}

INET_NS="$PREFIX-inet"
netns "$INET_NS"
ip -n "$INET_NS" link add br0 type bridge
ip -n "$INET_NS" link set br0 up

# Plugs namespace $1 into the internet as $2 (interface name $3).
plug() {
  local ns="$1" addr="$2" dev="$3" port="p${#NAMESPACES[@]}"
  ip -n "$INET_NS" link add "$port" type veth peer name "$dev" netns "$ns"
  ip -n "$INET_NS" link set "$port" master br0 up
  ip -n "$ns" addr add "$addr/24" dev "$dev"
  ip -n "$ns" link set "$dev" up
}

PUB_NS="$PREFIX-pub"
netns "$PUB_NS"
plug "$PUB_NS" "$RELAY_ADDR" eth0
if [ "$RELAY_MBPS" != "0" ]; then
  tbf_rate "$PUB_NS" eth0 "$RELAY_MBPS" || die "tc tbf unavailable: cannot cap the relay's uplink"
  log "relay uplink capped at $RELAY_MBPS Mbit/s"
fi

# The router's ruleset: NAT on the WAN side; like a home router it drops what arrives from the
# WAN unasked (no reply to anything sent, no port mapped); the chains miniupnpd fills (empty
# elsewhere).
router_rules() {
  local type="$1" masq="masquerade"
  [ "$type" = "sym" ] && masq="masquerade fully-random"
  cat <<EOF
table inet natlab {
  chain input { type filter hook input priority 0; policy accept; iifname "wan" ct state established,related accept; iifname "wan" drop; }
  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; iifname "wan" ct state established,related accept; iifname "wan" ct status dnat accept; iifname "wan" drop; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; oifname "wan" $masq; }
  chain postrouting_miniupnpd { }
}
EOF
}

start_miniupnpd() {
  local i="$1" ns="$2"
  cat >"$WORK/miniupnpd-$i.conf" <<EOF
ext_ifname=wan
listening_ip=lan
http_port=0
enable_natpmp=no
enable_upnp=yes
secure_mode=yes
system_uptime=yes
uuid=6b1c2a40-4b2c-4a8e-9d7e-0000000000$(printf '%02d' "$i")
upnp_table_name=natlab
upnp_nat_table_name=natlab
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
allow 1024-65535 192.168.0.0/16 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
  ip netns exec "$ns" setpriv --pdeathsig KILL -- \
    miniupnpd -d -f "$WORK/miniupnpd-$i.conf" -P "$WORK/miniupnpd-$i.pid" >"$WORK/miniupnpd-$i.log" 2>&1 &
  PIDS+=("$!")
}

declare -A HOME_NS ROUTER_NS LAN_ADDR DATA
for i in "${!TYPES[@]}"; do
  type="${TYPES[$i]}"
  r="$PREFIX-r$i"
  h="$PREFIX-h$i"
  netns "$r"
  netns "$h"
  plug "$r" "$INET.$((10 + i))" wan
  ip -n "$r" link add lan type veth peer name eth0 netns "$h"
  ip -n "$r" addr add "192.168.$((10 + i)).1/24" dev lan
  ip -n "$r" link set lan up
  ip -n "$h" addr add "192.168.$((10 + i)).2/24" dev eth0
  ip -n "$h" link set eth0 up
  ip -n "$h" route add default via "192.168.$((10 + i)).1"
  ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
  # A trial re-dials a peer from the same port: let the new connection reuse the 4-tuple of the
  # last one while that is still in TIME_WAIT (Linux allows it by default on loopback only).
  ip netns exec "$h" sysctl -qw net.ipv4.tcp_tw_reuse=1
  router_rules "$type" | ip netns exec "$r" nft -f -
  [ "$type" = "upnp" ] && start_miniupnpd "$i" "$r"
  HOME_NS[$i]="$h"
  ROUTER_NS[$i]="$r"
  LAN_ADDR[$i]="192.168.$((10 + i)).2"
  DATA[$i]="$WORK/h$i"
  mkdir -p "${DATA[$i]}"
  log "home h$i: LAN ${LAN_ADDR[$i]} behind router $INET.$((10 + i)) ($type)"
done
DATA[pub]="$WORK/pub"
mkdir -p "${DATA[pub]}"

# Node configs: nothing lent at a cap (the lab measures the paths), no multicast discovery.
cat >"$WORK/home.json" <<EOF
{ "mdns": false, "offer": { "uplinkMbps": 0 }, "latency": { "pingIntervalMs": 60000 } }
EOF
cat >"$WORK/relay.json" <<EOF
{ "mdns": false, "offer": { "uplinkMbps": 0 }, "latency": { "pingIntervalMs": 60000 },
  "relay": { "enabled": true, "maxReservations": 64 } }
EOF

wait_ready() {
  ready_line "$1" "$READY_TIMEOUT_S" || die "node of $1 not ready after ${READY_TIMEOUT_S}s"
}

ip netns exec "$PUB_NS" setpriv --pdeathsig KILL -- \
  "$NODE" "$BIN" start --config "$WORK/relay.json" --data "${DATA[pub]}" \
  --listen "/ip4/$RELAY_ADDR/tcp/$P2P_PORT" --announce "/ip4/$RELAY_ADDR/tcp/$P2P_PORT" --api-port 0 \
  >"$WORK/pub.log" 2>&1 &
PIDS+=("$!")
RELAY_ID="$(wait_ready "$WORK/pub.log" | awk '{print $3}')"
log "relay ready: $RELAY_ID at $RELAY_ADDR"

for i in "${!TYPES[@]}"; do
  ip netns exec "${HOME_NS[$i]}" setpriv --pdeathsig KILL -- \
    "$NODE" "$BIN" start --config "$WORK/home.json" --data "${DATA[$i]}" \
    --listen "/ip4/${LAN_ADDR[$i]}/tcp/$P2P_PORT" --api-port 0 \
    --bootstrap "/ip4/$RELAY_ADDR/tcp/$P2P_PORT/p2p/$RELAY_ID" >"$WORK/h$i.log" 2>&1 &
  PIDS+=("$!")
done
for i in "${!TYPES[@]}"; do wait_ready "$WORK/h$i.log" >/dev/null; done
log "home nodes ready"

# What the driver needs: per node its namespace, data dir and NAT type.
{
  echo '{"relay":{"ns":"'"$PUB_NS"'","data":"'"${DATA[pub]}"'"},"homes":['
  for i in "${!TYPES[@]}"; do
    [ "$i" = 0 ] || echo ','
    echo '{"name":"h'"$i"'","nat":"'"${TYPES[$i]}"'","ns":"'"${HOME_NS[$i]}"'","router":"'"${ROUTER_NS[$i]}"'","wan":"'"$INET.$((10 + i))"'","data":"'"${DATA[$i]}"'"}'
  done
  echo '],"trials":'"$TRIALS"',"out":"'"${OUT:-$WORK/out}"'","conntrack":'"$(command -v conntrack >/dev/null && echo true || echo false)"'}'
} >"$WORK/lab.json"

if ! "$NODE" "$REPO/scripts/nat-lab/driver.ts" "$WORK/lab.json"; then
  [ "$KEEP_RUNNING" = 1 ] || die "the measurements failed"
  log "the measurements failed; kept running for a look"
fi

if [ "$KEEP_RUNNING" = 1 ]; then
  log "running; Ctrl-C removes everything. Nodes (CLI inside each namespace):"
  log "  relay: ip netns exec $PUB_NS $NODE $BIN status --data ${DATA[pub]}"
  for i in "${!TYPES[@]}"; do log "  h$i: ip netns exec ${HOME_NS[$i]} $NODE $BIN status --data ${DATA[$i]}"; done
  wait
fi
