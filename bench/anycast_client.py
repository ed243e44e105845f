#!/usr/bin/env python3
"""The client of bench/anycast_bench.sh: one GET on a new connection (a new source port, so a
new ECMP hash at the router) every --every ms for --duration ms, each with a --timeout ms
deadline for connect + answer, on a schedule that does not wait for earlier requests. An answer
is good when it is a 200 whose body starts with a node's name ("node2 be1" -> node2).

Prints one line once done:
  sent=<n> failed=<n> window=<ms> first_fail=<ms> <node>=<n>...
failed: requests without a good answer; window: from the sending of the first failed request
to the end of the last one (0 when none failed); first_fail: when the first failed request
was sent, ms after the start (-1 when none). --log gets every request as
"<sent ms> <done ms> <node|-> <error>", times relative to the start.
"""
import argparse
import asyncio
import time


def now_ms():
    return time.monotonic() * 1000.0


async def get(host, port, timeout_s):
    async def run():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: any\r\nConnection: close\r\n\r\n")
            data = await reader.read(-1)
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].split()
        if len(status) < 2 or status[1] != b"200":
            raise ValueError("status %r" % head[:40])
        words = body.split()
        if not words or not words[0].startswith(b"node"):
            raise ValueError("body %r" % body[:40])
        return words[0].decode()

    return await asyncio.wait_for(run(), timeout_s)


async def main(a):
    t0 = now_ms()
    results = []

    async def one(sent):
        try:
            node, err = await get(a.host, a.port, a.timeout / 1000.0), ""
        except Exception as e:  # noqa: BLE001 - any failure counts
            node, err = None, type(e).__name__
        results.append((sent - t0, now_ms() - t0, node, err))

    tasks = []
    k = 0
    while now_ms() - t0 < a.duration:
        due = t0 + k * a.every
        delay = due - now_ms()
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        tasks.append(asyncio.ensure_future(one(now_ms())))
        k += 1
    await asyncio.gather(*tasks)
    results.sort()
    if a.log:
        with open(a.log, "w") as f:
            for s, d, n, e in results:
                f.write("%.1f %.1f %s %s\n" % (s, d, n or "-", e))
    failed = [r for r in results if r[2] is None]
    window = (max(r[1] for r in failed) - min(r[0] for r in failed)) if failed else 0
    first = min(r[0] for r in failed) if failed else -1
    nodes = {}
    for r in results:
        if r[2]:
            nodes[r[2]] = nodes.get(r[2], 0) + 1
    print("sent=%d failed=%d window=%d first_fail=%d %s" % (
        len(results), len(failed), window, first,
        " ".join("%s=%d" % kv for kv in sorted(nodes.items()))))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="10.77.0.200")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--every", type=float, default=10)
    p.add_argument("--timeout", type=float, default=200)
    p.add_argument("--duration", type=float, default=4000)
    p.add_argument("--log")
    asyncio.run(main(p.parse_args()))
