"""Python side of clamator-bench (clamator 0.1.9 from PyPI).

  bench_peer.py serve  <redis-url> <key-prefix>   a clamator-over-redis server for `arith`;
                                                  prints READY, stops when stdin closes.
  bench_peer.py client <redis-url> <key-prefix>   one clamator-over-redis client and one
                                                  clamator-over-memory bus (server + client);
                                                  reads one workload per stdin line (JSON),
                                                  answers one result line (JSON) each.

The workload loop is the same as the Rust one (bench/src/load.rs): `concurrency` workers, each
calling in a loop until `duration_s` has passed or `max_calls` calls were issued in all, after a
warm-up phase of `warmup_s` run the same way and discarded.
"""
from __future__ import annotations

import asyncio
import json
import math
import sys
import time

from clamator_over_memory import MemoryBus, MemoryRpcClient, MemoryRpcServer
from clamator_over_redis import RedisRpcClient, RedisRpcServer
from redis.asyncio import Redis

from contracts import ArithService, Counter, arith_contract


async def read_stdin_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def serve(url: str, prefix: str) -> None:
    server = RedisRpcServer(redis_url=url, key_prefix=prefix)
    server.register_service(arith_contract, ArithService(Counter()))
    await server.start()
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.wait_for(server.stop(grace_ms=1000), timeout=10)


def percentile(sorted_ns: list[int], p: float) -> float:
    """Nearest-rank percentile in ms (the same rule as the Rust side)."""
    if not sorted_ns:
        return float("nan")
    rank = max(1, math.ceil(p * len(sorted_ns)))
    return sorted_ns[min(rank, len(sorted_ns)) - 1] / 1e6


async def drive(call, concurrency: int, duration_s: float, max_calls: int) -> dict:
    issued = 0
    errors = 0
    first_error: str | None = None
    lat: list[int] = []
    start = time.perf_counter()
    deadline = start + duration_s

    async def worker() -> None:
        nonlocal issued, errors, first_error
        while time.perf_counter() < deadline and issued < max_calls:
            issued += 1
            t = time.perf_counter_ns()
            try:
                await call()
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors += 1
                if first_error is None:
                    first_error = f"{type(e).__name__}: {e}"
                continue
            lat.append(time.perf_counter_ns() - t)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    lat.sort()
    return {
        "ok": len(lat),
        "errors": errors,
        "first_error": first_error,
        "elapsed_s": elapsed,
        "calls_per_s": len(lat) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(lat, 0.50),
        "p99_ms": percentile(lat, 0.99),
    }


async def client(url: str, prefix: str) -> None:
    # The default redis-py pool (100 connections) fails at >= 100 concurrent calls: size it.
    redis = Redis.from_url(url, max_connections=4096)
    rc = RedisRpcClient(redis=redis, key_prefix=prefix, default_timeout_ms=30_000)
    await rc.start()
    bus = MemoryBus()
    ms = MemoryRpcServer(bus=bus)
    ms.register_service(arith_contract, ArithService(Counter()))
    await ms.start()
    mc = MemoryRpcClient(bus=bus)
    await mc.start()
    print("READY", flush=True)
    while True:
        line = await read_stdin_line()
        if not line.strip():
            break
        w = json.loads(line)
        c = rc if w["transport"] == "redis" else mc
        if w["method"] == "add":
            params = {"a": 1, "b": 2}

            async def call(c=c, params=params):
                await c.call("arith", "add", params)
        else:
            params = {"text": "x" * int(w["payload"])}

            async def call(c=c, params=params):
                await c.call("arith", "echoText", params)

        if w["warmup_s"] > 0:
            await drive(call, int(w["concurrency"]), float(w["warmup_s"]), int(w["max_calls"]))
        result = await drive(call, int(w["concurrency"]), float(w["duration_s"]), int(w["max_calls"]))
        print(json.dumps(result), flush=True)
    # redis-py >= 8 on Python 3.11: stop() right after a call can hang; a short pause avoids it.
    await asyncio.sleep(0.05)
    for stop in (rc.stop(), mc.stop(), ms.stop(grace_ms=1000)):
        try:
            await asyncio.wait_for(stop, timeout=5)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - best effort at exit
            pass
    await redis.aclose()


def main() -> None:
    mode, url, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "serve":
        asyncio.run(serve(url, prefix))
    elif mode == "client":
        asyncio.run(client(url, prefix))
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
