"""clamator interop server driver (Python peer): config on stdin, READY on stdout, HANDLED:<n> on SIGTERM."""
from __future__ import annotations

import asyncio
import json
import signal
import sys

from clamator_over_redis import RedisRpcServer

from connect import make_redis, ready
from contracts import ArithService, Counter, NotificationsService, arith_contract, notifications_contract


async def main() -> None:
    cfg = json.loads(sys.stdin.read())
    redis = await ready(make_redis(cfg))
    server = RedisRpcServer(
        redis=redis, key_prefix=cfg["keyPrefix"],
        instance_id=cfg.get("instanceId"),
        consumer_claim_idle_ms=int(cfg.get("consumerClaimIdleMs", 60_000)),
    )
    counter = Counter()
    if cfg["contract"] == "arith":
        server.register_service(arith_contract, ArithService(counter))
    else:
        server.register_service(notifications_contract, NotificationsService(counter))
    await server.start()
    print("READY", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(f"HANDLED:{counter.handled}", file=sys.stderr, flush=True)
    await server.stop(grace_ms=1000)
    await redis.aclose()


asyncio.run(main())
