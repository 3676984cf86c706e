"""Records what the Python peer (clamator-over-redis 0.1.9) writes to Redis for each call of
fixtures/wire/calls.json: the command-stream entry its client writes and the reply-stream entry
its server writes, field by field. Run once; the output is checked in:

    python record_wire.py redis://127.0.0.1:6379 > ../fixtures/wire/python-0.1.9.json
"""
from __future__ import annotations

import asyncio
import json
import sys
import uuid
from importlib.metadata import version
from pathlib import Path

from clamator_over_redis import RedisRpcClient, RedisRpcServer, RpcError
from redis.asyncio import Redis

from contracts import ArithService, Counter, NotificationsService, arith_contract, notifications_contract


def fields(entry_fields: dict, prefix: str) -> list[list[str]]:
    out = [[k.decode(), v.decode()] for k, v in entry_fields.items()]
    return [[k, template(v, prefix, "client-1") if k == "reply-to" else v] for k, v in out]


def template(key: str, prefix: str, client_id: str) -> str:
    return key.replace(prefix, "{prefix}").replace(client_id, "{client}")


async def main() -> None:
    url = sys.argv[1]
    calls = json.loads((Path(__file__).parent.parent / "fixtures/wire/calls.json").read_text())
    prefix = f"wire-{uuid.uuid4().hex[:6]}"
    redis = Redis.from_url(url)
    server = RedisRpcServer(redis_url=url, key_prefix=prefix, instance_id="srv-A")
    counter = Counter()
    server.register_service(arith_contract, ArithService(counter))
    server.register_service(notifications_contract, NotificationsService(counter))
    await server.start()
    client = RedisRpcClient(redis_url=url, key_prefix=prefix, instance_id="client-1", default_timeout_ms=5000)
    await client.start()
    reply_key = f"{prefix}:replies:client-1"
    cases = []
    for call in calls:
        service, _, method = call["method"].partition(".")
        cmds = f"{prefix}:cmds:{service}"
        before_cmd = await redis.xrevrange(cmds, count=1)
        before_reply = await redis.xrevrange(reply_key, count=1)
        try:
            if call.get("notification"):
                await client.notify(service, method, call["params"])
                await asyncio.sleep(0.3)
            else:
                await client.call(service, method, call["params"])
        except RpcError:
            pass
        cmd_entries = await redis.xrange(cmds, min=f"({before_cmd[0][0].decode()}" if before_cmd else "-")
        reply_entries = await redis.xrange(reply_key, min=f"({before_reply[0][0].decode()}" if before_reply else "-")
        cases.append({
            "call": call,
            "request": {"stream": template(cmds, prefix, "client-1"), "fields": fields(cmd_entries[-1][1], prefix)},
            "reply": {"stream": template(reply_key, prefix, "client-1"), "fields": fields(reply_entries[-1][1], prefix)}
            if reply_entries else None,
        })
    await asyncio.sleep(0.05)
    await client.stop()
    await server.stop(grace_ms=500)
    keys = [k async for k in redis.scan_iter(f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    doc = {
        "recordedWith": {p: version(p) for p in ("clamator-protocol", "clamator-over-redis", "redis", "pydantic")},
        "note": "ids, entry ids, the key prefix ({prefix}) and the client instance id ({client}) vary per run",
        "cases": cases,
    }
    print(json.dumps(doc, ensure_ascii=False, indent=2))


asyncio.run(main())
