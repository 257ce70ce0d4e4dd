"""A plain ASGI 3 application (no framework) for gowt.asgi's tests, pytest
and Chromium alike. It prints one line per fact to stdout ("APP ...") so a
test running it in another process can judge the server side.

- path /refuse: refused (webtransport.close before accept, status 404)
- accept, choosing the first offered sub-protocol
- right away: a server uni stream "welcome <query>" (data + end_stream in
  webtransport.stream.open), and a server bidi stream (tag "srv-bidi") with
  "server-bidi"; what the client writes back on it is answered with
  "got:" + data and FIN
- client bidi streams: echoed as "echo:" + body with FIN at the end
- client uni streams: answered on a new server uni stream, upper-cased
- datagrams: echoed as "echo:" + data; the datagram "close" makes the
  application close the session with code 4001, reason "asked to close"
- a stream the client resets: "APP reset stream=<id> code=<code>"
"""
import sys

SCOPES = []        # the scopes seen (pytest reads these in-process)
DISCONNECTS = []   # (code, reason) of each webtransport.disconnect
RESETS = []        # (stream_id, code)


def say(*parts):
    print("APP", *parts, flush=True)


async def app(scope, receive, send):
    if scope["type"] != "webtransport":
        return
    real_send = send

    async def send(message):
        # The peer may close at any moment, even right after accept: a send
        # then raises gowt.SessionClosed (an OSError, as ASGI asks), and the
        # webtransport.disconnect message is next on receive().
        try:
            await real_send(message)
        except OSError as e:
            say("send %s after the close: %s" % (message["type"], type(e).__name__))

    SCOPES.append(scope)
    say("scope path=%s query=%s session_id=%s subprotocols=%s" % (
        scope["path"], scope["query_string"].decode(), scope["session_id"],
        ",".join(scope["subprotocols"]) or "-"))
    msg = await receive()
    assert msg["type"] == "webtransport.connect", msg
    if scope["path"] == "/refuse":
        await send({"type": "webtransport.close", "status": 404})
        return
    accept = {"type": "webtransport.accept"}
    if scope["subprotocols"]:
        accept["subprotocol"] = scope["subprotocols"][0]
    await send(accept)
    await send({"type": "webtransport.stream.open", "bidirectional": False,
                "data": b"welcome " + scope["query_string"], "end_stream": True})
    await send({"type": "webtransport.stream.open", "bidirectional": True,
                "data": b"server-bidi", "tag": "srv-bidi"})
    srv_bidi = None
    bodies = {}
    while True:
        msg = await receive()
        kind = msg["type"]
        if kind == "webtransport.disconnect":
            DISCONNECTS.append((msg["code"], msg["reason"]))
            say("disconnect code=%d reason=%s" % (msg["code"], msg["reason"] or "-"))
            return
        if kind == "webtransport.stream.opened":
            if msg["tag"] == "srv-bidi":
                srv_bidi = msg["stream_id"]
        elif kind == "webtransport.datagram.receive":
            if msg["data"] == b"close":
                say("closing")
                await send({"type": "webtransport.close", "code": 4001,
                            "reason": "asked to close"})
            else:
                await send({"type": "webtransport.datagram.send", "data": b"echo:" + msg["data"]})
        elif kind == "webtransport.stream.reset":
            RESETS.append((msg["stream_id"], msg["code"]))
            say("reset stream=%d code=%d" % (msg["stream_id"], msg["code"]))
        elif kind == "webtransport.stream.receive":
            sid = msg["stream_id"]
            if sid == srv_bidi:
                if msg["data"]:
                    await send({"type": "webtransport.stream.send", "stream_id": sid,
                                "data": b"got:" + msg["data"], "end_stream": True})
                continue
            bodies[sid] = bodies.get(sid, b"") + msg["data"]
            if not msg["stream_ended"]:
                continue
            body = bodies.pop(sid)
            if msg["bidirectional"]:
                await send({"type": "webtransport.stream.send", "stream_id": sid,
                            "data": b"echo:" + body, "end_stream": True})
            else:
                await send({"type": "webtransport.stream.open", "bidirectional": False,
                            "data": body.upper(), "end_stream": True})
            say("stream %s bytes=%d" % ("bidi" if msg["bidirectional"] else "uni", len(body)))


if __name__ == "__main__":
    sys.exit("run it with: python -m gowt.asgi asgi_app:app --app-dir tests")
