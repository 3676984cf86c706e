#!/usr/bin/env bash
# A local Redis Cluster for trying clamator on a cluster: 3 primaries + 3 replicas on loopback.
#
#   ./scripts/redis-cluster.sh start [first-port]   # default 7000: nodes on 7000..7005
#   ./scripts/redis-cluster.sh stop  [first-port]
#
# Seed nodes are printed on start (redis://127.0.0.1:7000 …); data lives in
# target/redis-cluster-<port>/ and is removed by stop. Tests do not use this script: they start
# their own cluster on free ports (clamator_over_redis::testing::RedisCluster).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd="${1:-start}"
first="${2:-7000}"
dir="target/redis-cluster-$first"
ports=$(seq "$first" $((first + 5)))

case "$cmd" in
  start)
    command -v redis-server >/dev/null || { echo "install redis-server (apt-get install redis-server)" >&2; exit 1; }
    command -v redis-cli >/dev/null || { echo "install redis-cli (apt-get install redis-tools)" >&2; exit 1; }
    mkdir -p "$dir"
    for p in $ports; do
      redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "nodes-$p.conf" --cluster-node-timeout 2000 \
        --dir "$PWD/$dir" --logfile "$PWD/$dir/$p.log" --save "" --appendonly no \
        --repl-diskless-sync-delay 0 --daemonize yes
    done
    for p in $ports; do
      until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.1; done
    done
    # shellcheck disable=SC2046
    redis-cli --cluster create $(for p in $ports; do printf '127.0.0.1:%s ' "$p"; done) \
      --cluster-replicas 1 --cluster-yes >/dev/null
    until redis-cli -p "$first" cluster info | grep -q cluster_state:ok; do sleep 0.2; done
    echo "cluster up; seed nodes:"
    for p in $ports; do echo "  redis://127.0.0.1:$p"; done
    ;;
  stop)
    for p in $ports; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
    rm -rf "$dir"
    echo "cluster on $first..$((first + 5)) stopped"
    ;;
  *)
    echo "usage: $0 start|stop [first-port]" >&2
    exit 2
    ;;
esac
