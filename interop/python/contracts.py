"""The interop contracts (`arith`, `notifications`) as clamator's Python codegen would emit them."""
from __future__ import annotations

import asyncio

from clamator_protocol import Contract, MethodEntry, RpcError
from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AddParams(_Model):
    a: float
    b: float


class SlowAddParams(_Model):
    a: float
    b: float
    sleep_ms: int = Field(alias="sleepMs", ge=0)


class SumResult(_Model):
    sum: float


class DivideResult(_Model):
    q: float


class EchoTextParams(_Model):
    text: str


class EchoTextResult(_Model):
    text: str


class PingParams(_Model):
    tag: str | None = None


arith_contract = Contract(service="arith", methods={
    "add": MethodEntry(AddParams, SumResult, "add"),
    "divide": MethodEntry(AddParams, DivideResult, "divide"),
    "echoText": MethodEntry(EchoTextParams, EchoTextResult, "echo_text"),
    "slowAdd": MethodEntry(SlowAddParams, SumResult, "slow_add"),
})

notifications_contract = Contract(service="notifications", methods={
    "ping": MethodEntry(PingParams, None, "ping"),
})


class Counter:
    handled = 0


class ArithService:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    async def add(self, p: AddParams) -> SumResult:
        self.counter.handled += 1
        return SumResult(sum=p.a + p.b)

    async def slow_add(self, p: SlowAddParams) -> SumResult:
        self.counter.handled += 1
        await asyncio.sleep(p.sleep_ms / 1000)
        return SumResult(sum=p.a + p.b)

    async def divide(self, p: AddParams) -> DivideResult:
        self.counter.handled += 1
        if p.b == 0:
            raise RpcError(-32000, "division by zero")
        return DivideResult(q=p.a / p.b)

    async def echo_text(self, p: EchoTextParams) -> EchoTextResult:
        self.counter.handled += 1
        return EchoTextResult(text=p.text)


class NotificationsService:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.pinged_at: int | None = None

    async def ping(self, p: PingParams) -> None:
        import time
        self.counter.handled += 1
        self.pinged_at = int(time.time() * 1000)
