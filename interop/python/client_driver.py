"""clamator interop client driver (Python peer): config on stdin, {"results": [...]} on stdout."""
from __future__ import annotations

import asyncio
import json
import sys

from clamator_over_redis import ClamatorTransportError, RedisRpcClient, RpcError

from connect import make_redis, ready


async def one(client: RedisRpcClient, call: dict) -> dict:
    service, _, method = call["method"].partition(".")
    try:
        if call.get("notification"):
            await client.notify(service, method, call.get("params", {}))
            return {"ok": True, "kind": "notification"}
        result = await client.call(service, method, call.get("params", {}))
        return {"ok": True, "kind": "result", "result": result}
    except RpcError as e:
        return {"ok": False, "kind": "rpc-error", "code": e.code, "message": e.message, "data": e.data}
    except ClamatorTransportError as e:
        cause = f" ({e.__cause__!r})" if e.__cause__ else ""
        return {"ok": False, "kind": "transport-error", "message": f"{e}{cause}"}
    except Exception as e:  # noqa: BLE001 - the driver protocol reports anything else as unknown
        return {"ok": False, "kind": "unknown-error", "message": f"{type(e).__name__}: {e}"}


async def main() -> None:
    cfg = json.loads(sys.stdin.read())
    # The default redis-py pool (100 connections) fails at >= 100 concurrent calls; size it.
    redis = await ready(make_redis(cfg, max_connections=2048))
    client = RedisRpcClient(redis=redis, key_prefix=cfg["keyPrefix"],
                            default_timeout_ms=int(cfg.get("defaultTimeoutMs", 5000)))
    await client.start()
    calls = cfg["calls"]
    concurrent = int(cfg.get("concurrent", 1))
    results: list[dict] = []
    if concurrent > 1:
        fans = await asyncio.gather(*(asyncio.gather(*(one(client, c) for c in calls)) for _ in range(concurrent)))
        for fan in fans:
            results.extend(fan)
    else:
        for c in calls:
            results.append(await one(client, c))
    await asyncio.sleep(0.05)  # redis-py >= 8 on 3.11: stop() right after a call can hang
    await client.stop()
    await redis.aclose()
    print(json.dumps({"results": results}))


asyncio.run(main())
