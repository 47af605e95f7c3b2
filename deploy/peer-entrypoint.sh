#!/bin/sh
# Starts a bwnode peer that bootstraps from another node found by name: it asks that node's API
# for its peer id (a read, no token) and passes /dns4/<host>/tcp/<port>/p2p/<id> as
# BWNODE_BOOTSTRAP. Used by deploy/compose.yaml; any other arguments go to `bwnode start`.
#   BOOTSTRAP_API   the bootstrap node's API URL (default http://bootstrap:4020)
#   BOOTSTRAP_ADDR  its libp2p address without /p2p (default /dns4/bootstrap/tcp/4010)
#   BOOTSTRAP_WAIT  seconds to wait for it to answer (default 60)
set -eu
api="${BOOTSTRAP_API:-http://bootstrap:4020}"
addr="${BOOTSTRAP_ADDR:-/dns4/bootstrap/tcp/4010}"
wait="${BOOTSTRAP_WAIT:-60}"
waited=0
until status=$(bwnode status --api "$api" --json --timeout 3 2>/dev/null); do
  waited=$((waited + 1))
  if [ "$waited" -ge "$wait" ]; then
    echo "bwnode: the bootstrap node at $api did not answer within $wait s" >&2
    exit 1
  fi
  sleep 1
done
id=$(printf '%s' "$status" | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).peerId)')
BWNODE_BOOTSTRAP="$addr/p2p/$id"
export BWNODE_BOOTSTRAP
echo "bwnode: bootstrapping from $BWNODE_BOOTSTRAP" >&2
exec bwnode start "$@"
