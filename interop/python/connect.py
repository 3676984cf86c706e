"""The connection keys of the drivers' stdin documents (see interop/README.md).

`redisUrl` (redis:// or rediss://), or `redisCluster` (a list of seed node URLs, which replaces
`redisUrl`), and an optional `tlsCaFile` (a PEM CA to trust). The clamator 0.1.9 peer takes an
injected client, so a cluster is a `redis.asyncio.RedisCluster`.
"""
from __future__ import annotations

from urllib.parse import urlparse

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster


def make_redis(cfg: dict, **kwargs) -> Redis | RedisCluster:
    ca = cfg.get("tlsCaFile")
    tls = {"ssl_ca_certs": ca} if ca else {}
    seeds = cfg.get("redisCluster")
    if seeds:
        parsed = [urlparse(u) for u in seeds]
        nodes = [ClusterNode(p.hostname or "127.0.0.1", p.port or 6379) for p in parsed]
        ssl = any(p.scheme == "rediss" for p in parsed)
        return RedisCluster(startup_nodes=nodes, ssl=ssl or bool(ca), **tls, **kwargs)
    return Redis.from_url(cfg["redisUrl"], **tls, **kwargs)


async def ready(redis: Redis | RedisCluster) -> Redis | RedisCluster:
    """Loads a cluster's slot map before the peer sees the client: redis-py initialises a
    RedisCluster lazily, on whichever of the first concurrent commands gets there first."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
    return redis
