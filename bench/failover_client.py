#!/usr/bin/env python3
"""The client of bench/failover_bench.sh: one GET on a new connection every --every ms (each
with a --timeout ms deadline for connect + answer), all on a schedule that does not wait for
earlier requests. An answer is good when it is a 200 whose body starts with a node's name
("node2 be1" -> node2).

Phases: it waits for --ready consecutive good answers from --old, then creates the --ready-file
(the bench triggers the failover when it appears), then runs until the first good answer from
--new is --settle ms old (or --max ms have passed: exit 3). It prints one line:
  gap=<ms> failed=<n> sent=<n> other=<n> old_after=<n>
gap: completion of the last good answer from --old that came before the first good answer from
--new, to the completion of that first answer (ms, monotonic clock). failed: requests sent after
the ready point that got no good answer. other: good answers from a third node. old_after: good
answers from --old after the first one from --new (a flap). --log gets every request as
"<sent ms> <done ms> <node|-> <error>", times relative to the start.
"""
import argparse
import asyncio
import sys
import time


def now_ms():
    return time.monotonic() * 1000.0


async def get(host, port, timeout_s):
    """The answering node's name, or raises."""

    async def run():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
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
    results = []  # (sent, done, node or None, error)
    st = {"phase": "wait", "streak": 0, "ready_at": None, "first_new": None}
    finished = asyncio.Event()

    def on_result(sent, done, node):
        if st["phase"] == "wait":
            st["streak"] = st["streak"] + 1 if node == a.old else 0
            if st["streak"] >= a.ready:
                st["phase"] = "measure"
                st["ready_at"] = done
                with open(a.ready_file, "w") as f:
                    f.write("ready\n")
        elif st["first_new"] is None:
            if node == a.new:
                st["first_new"] = done
        if st["first_new"] is not None and done - st["first_new"] >= a.settle:
            finished.set()

    async def fire(sent):
        node, err = None, ""
        try:
            node = await get(a.host, a.port, a.timeout / 1000.0)
        except Exception as e:  # every failure counts the same: no good answer
            err = type(e).__name__
        done = now_ms()
        results.append((sent, done, node, err))
        on_result(sent, done, node)

    tasks = set()
    k = 0
    code = 0
    while not finished.is_set():
        k += 1
        delay = t0 + k * a.every - now_ms()
        if delay > 0:
            try:
                await asyncio.wait_for(finished.wait(), delay / 1000.0)
                break
            except asyncio.TimeoutError:
                pass
        t = asyncio.ensure_future(fire(now_ms()))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
        if st["phase"] == "wait" and now_ms() - t0 > a.wait_max:
            print("no %d good answers in a row from %s within %d ms" % (a.ready, a.old, a.wait_max))
            code = 2
            break
        if st["phase"] == "measure" and now_ms() - st["ready_at"] > a.max:
            print("no good answer from %s within %d ms of the trigger" % (a.new, a.max))
            code = 3
            break
    for t in list(tasks):
        t.cancel()
    if a.log:
        with open(a.log, "w") as f:
            for sent, done, node, err in sorted(results):
                f.write("%.1f %.1f %s %s\n" % (sent - t0, done - t0, node or "-", err))
    if code:
        return code
    ready, first_new = st["ready_at"], st["first_new"]
    olds = [done for sent, done, node, _ in results if node == a.old and done <= first_new]
    measured = [r for r in results if r[0] >= ready]
    failed = sum(1 for r in measured if r[2] is None)
    other = sum(1 for r in measured if r[2] not in (None, a.old, a.new))
    old_after = sum(1 for r in measured if r[2] == a.old and r[1] > first_new)
    gap = first_new - max(olds)
    print(
        "gap=%d failed=%d sent=%d other=%d old_after=%d"
        % (round(gap), failed, len(measured), other, old_after)
    )
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="10.77.0.100")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--every", type=float, default=10.0, help="ms between requests")
    p.add_argument("--timeout", type=float, default=200.0, help="ms per request")
    p.add_argument("--old", required=True)
    p.add_argument("--new", required=True)
    p.add_argument("--ready", type=int, default=20, help="good answers in a row from --old")
    p.add_argument("--ready-file", required=True)
    p.add_argument("--settle", type=float, default=300.0)
    p.add_argument("--max", type=float, default=15000.0, help="ms after the ready point")
    p.add_argument("--wait-max", type=float, default=30000.0, help="ms to become ready")
    p.add_argument("--log")
    sys.exit(asyncio.run(main(p.parse_args())))
