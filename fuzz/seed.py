#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into fuzz/seeds/<target>/ (then minimised into
fuzz/corpus/<target>/ with `cargo fuzz cmin`, see README.md).

* envelope, dispatch: the "text" of interop/fixtures/envelopes/*.json, the envelopes of
  interop/fixtures/dispatch/*.json and the request envelopes recorded off the Python peer
  (interop/fixtures/wire/*.json).
* reply: the recorded reply envelopes, and the response fixtures.
* stream_entry: real XREAD / XREADGROUP / XAUTOCLAIM / XPENDING / XINFO GROUPS replies, raw
  bytes as the server sent them, in RESP2 and in RESP3 (HELLO 3), captured from a throwaway
  redis-server started here on a free port (skipped when redis-server is missing). Each file
  starts with the target's mode byte 0 (raw RESP).
"""
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def fixtures():
    fx = os.path.join(ROOT, "interop", "fixtures")
    for p in sorted(glob.glob(os.path.join(fx, "envelopes", "*.json"))):
        text = json.load(open(p))["text"]
        put("envelope", text)
        put("dispatch", text)
        put("reply", text)
    for p in sorted(glob.glob(os.path.join(fx, "dispatch", "*.json"))):
        case = json.load(open(p))
        env = json.dumps(case["envelope"], separators=(",", ":"))
        put("dispatch", env)
        put("envelope", env)
        if case.get("expect") is not None:
            put("reply", json.dumps(case["expect"], separators=(",", ":")))
    wire = []
    for p in sorted(glob.glob(os.path.join(fx, "wire", "*.json"))):
        doc = json.load(open(p))
        for case in doc.get("cases", []) if isinstance(doc, dict) else []:
            for side in ("request", "reply"):
                fields = (case.get(side) or {}).get("fields") or []
                for k, v in fields:
                    if k == "envelope":
                        put("envelope", v)
                        put("dispatch" if side == "request" else "reply", v)
                        wire.append((side, fields))
    return wire


# The methods of the fuzz target's own `arith` service (src/dispatch.rs), valid and not.
SERVICE_CALLS = [
    ("echo", {"text": "hi", "count": 3, "tags": ["a", "b"], "kind": "plain",
              "nested": {"text": "in", "count": None, "tags": [], "nested": None, "kind": "fancy"}}),
    ("echo", {"text": "hi", "tags": [], "kind": "odd"}),
    ("relay", {"value": {"text": "x", "count": None, "tags": ["t"], "nested": None, "kind": "fancy"}}),
    ("relay", {"value": {"text": 1}}),
    ("echoTag", {"tag": "x"}),
    ("echoTag", {}),
    ("badResult", {"a": 1, "b": 2}),
    ("fail", {"a": 1, "b": 2}),
    ("unhandled", {"a": 1, "b": 2}),
    ("divide", {"a": 1, "b": 0}),
    ("divide", {"a": 1e308, "b": 1e-308}),
    ("add", {"a": 1.5, "b": -2}),
    ("ping", {"tag": "x"}),
    ("silent", {"tag": None}),
]


def service_calls():
    for i, (method, params) in enumerate(SERVICE_CALLS):
        for id_ in (f"c{i}", i, None):
            env = {"jsonrpc": "2.0", "method": f"arith.{method}", "params": params}
            if id_ is not None:
                env["id"] = id_
            put("dispatch", json.dumps(env, separators=(",", ":")))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    """Raw socket: the reply bytes are kept exactly as the server wrote them."""

    def __init__(self, port, resp3):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        if resp3:
            self.raw("HELLO", "3")

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def _exact(self, n):
        while len(self.buf) < n:
            self.buf += self.s.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _value(self):
        line = self._line()
        t, rest = line[:1], line[1:-2]
        if t in b"$=!":
            n = int(rest)
            return line if n < 0 else line + self._exact(n + 2)
        if t in b"*~>%|":
            n = int(rest)
            if n < 0:
                return line
            if t in b"%|":
                n *= 2
            out = line
            for _ in range(n):
                out += self._value()
            if t == b"|":
                out += self._value()
            return out
        return line

    def raw(self, *args):
        self.s.sendall(encode(*args))
        return self._value()


def capture(wire):
    server = shutil.which("redis-server")
    if not server:
        print("redis-server not found: no RESP captures")
        return
    port = free_port()
    tmp = tempfile.mkdtemp()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        for resp3 in (False, True):
            c = Conn(port, resp3)
            c.raw("FLUSHALL")
            cmds, replies = "app:cmds:arith", "app:replies:c1"
            for side, fields in wire:
                flat = [x for kv in fields for x in kv]
                c.raw("XADD", cmds if side == "request" else replies, "*", *flat)
            c.raw("XGROUP", "CREATE", cmds, "arith", "0", "MKSTREAM")
            grab = lambda *a: put("stream_entry", b"\x00" + c.raw(*a))
            grab("XREAD", "COUNT", "2", "STREAMS", replies, "0-0")
            grab("XREAD", "BLOCK", "1", "STREAMS", replies, "$")  # timeout: nil
            grab("XREADGROUP", "GROUP", "arith", "w1", "COUNT", "3", "STREAMS", cmds, ">")
            grab("XREADGROUP", "GROUP", "arith", "w1", "COUNT", "3", "STREAMS", cmds, ">")
            # A pending entry deleted: nil fields in the history, a deleted id in XAUTOCLAIM.
            first = c.raw("XRANGE", cmds, "-", "+", "COUNT", "1")
            first_id = first.split(b"\r\n")[3]
            c.raw("XDEL", cmds, first_id)
            grab("XREADGROUP", "GROUP", "arith", "w1", "STREAMS", cmds, "0")
            grab("XAUTOCLAIM", cmds, "arith", "w2", "0", "0-0", "COUNT", "2")
            grab("XAUTOCLAIM", cmds, "arith", "w2", "0", "0-0", "COUNT", "100")
            grab("XPENDING", cmds, "arith")
            grab("XPENDING", cmds, "arith", "-", "+", "10")
            grab("XPENDING", cmds, "arith", "IDLE", "0", "-", "+", "10", "w2")
            grab("XINFO", "GROUPS", cmds)
            c.raw("XGROUP", "CREATE", replies, "empty", "$")
            grab("XPENDING", replies, "empty")  # nothing pending
            grab("XINFO", "GROUPS", replies)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    shutil.rmtree(OUT, ignore_errors=True)
    capture(fixtures())
    service_calls()
    # Starting points for the generated modes (1: a `Value` tree, 2: the reply model).
    put("stream_entry", b"\x02" + bytes(range(96)))
    put("stream_entry", b"\x03" + bytes(range(255, 0, -1)))
    for t in sorted(os.listdir(OUT)):
        print(t, len(os.listdir(os.path.join(OUT, t))))
