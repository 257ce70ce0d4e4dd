#!/usr/bin/env python3
"""Throughput of gowt.aio on loopback (prints numbers; not a test).

    python3 bindings/python/bench_aio.py [--mb 64] [--datagrams 20000]

One process: a gowt.serve server and a gowt.connect client on one asyncio
loop. Prints the stream upload rate (client -> server, FIN, server counts),
the echo round trip of a bidi stream, and the datagram rate (sent vs
received; datagrams may be dropped).
"""
import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gowt  # noqa: E402


async def main(mb, n_dgrams):
    got = {"dg": 0, "session": None}
    done = asyncio.get_event_loop().create_future()

    async def handler(session):
        got["session"] = session

        async def dgs():
            while True:
                try:
                    await session.receive_datagram()
                except gowt.SessionClosed:
                    return
                got["dg"] += 1
        asyncio.ensure_future(dgs())
        async for st in session.incoming_streams():
            n = 0
            while True:
                chunk = await st.read(1 << 20)
                if not chunk:
                    break
                n += len(chunk)
                if st.bidirectional:
                    st.write(chunk)
            if st.bidirectional:
                st.write_eof()
                await st.drain()
            else:
                done.set_result(n)

    server = await gowt.serve("127.0.0.1", 0, handler)
    s = await gowt.connect("https://127.0.0.1:%d/" % server.port, cert_hashes=[server.cert_hash])
    block = os.urandom(1 << 20)
    st = await s.open_unidirectional_stream()
    t0 = time.perf_counter()
    for _ in range(mb):
        st.write(block)
        await st.drain()
    st.write_eof()
    await st.drain()
    n = await done
    dt = time.perf_counter() - t0
    print("upload: %d MB in %.2f s = %.1f MB/s" % (n >> 20, dt, n / dt / 1e6))

    st = await s.open_bidirectional_stream()
    t0 = time.perf_counter()
    size = 16 << 20
    async def writer():
        for _ in range(size >> 20):
            st.write(block)
            await st.drain()
        st.write_eof()
        await st.drain()
    w = asyncio.ensure_future(writer())
    back = 0
    while True:
        chunk = await st.read(1 << 20)
        if not chunk:
            break
        back += len(chunk)
    await w
    dt = time.perf_counter() - t0
    print("bidi echo: %d MB each way in %.2f s = %.1f MB/s each way" % (back >> 20, dt, back / dt / 1e6))

    t0 = time.perf_counter()
    payload = b"d" * 1000
    sent = 0
    while sent < n_dgrams:
        try:
            s.send_datagram(payload)
            sent += 1
        except gowt.WouldBlock:
            await s.wait_datagram_writable()
    await asyncio.sleep(0.5)
    dt = time.perf_counter() - t0 - 0.5
    print("datagrams: %d x 1000 B sent in %.2f s (%.0f/s), %d received (%.1f %%)"
          % (sent, dt, sent / dt, got["dg"], 100.0 * got["dg"] / sent))
    ss = got["session"]
    ci, si = s.info(), ss.info()
    print("  gowt counters: client sent %d (dropped_send %d), server received %d "
          "(dropped_recv %d); gowt.aio dropped %d" % (
              ci["datagrams_sent"], ci["datagrams_dropped_send"], si["datagrams_received"],
              si["datagrams_dropped_recv"], ss.datagrams_dropped))
    s.close()
    await s.wait_closed()
    server.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=64)
    ap.add_argument("--datagrams", type=int, default=20000)
    a = ap.parse_args()
    asyncio.run(main(a.mb, a.datagrams))
