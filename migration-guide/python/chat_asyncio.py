"""Line chat with broadcast, asyncio streams: the Python original of examples/pairs/chat-modern.ts.

The protocol of chat_asyncore.py. Broadcasting writes to the other clients WITHOUT awaiting
their drain(): one slow client must not stall the sender. Instead each transport's write buffer
is checked, and a client that falls too far behind is disconnected.

    python3 chat_asyncio.py --port 7000
"""
import argparse
import asyncio
import itertools
import sys

MAX_LINE = 1024
MAX_BACKLOG_BYTES = 256 * 1024

user_ids = itertools.count(1)
members = {}  # writer -> name


def broadcast(line, sender=None):
    data = (line + "\n").encode("utf-8")
    for writer in list(members):
        if writer is sender or writer.is_closing():
            continue
        writer.write(data)
        if writer.transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
            writer.transport.abort()  # drop its queue and cut it; its coroutine says "left"


async def chat(reader, writer):
    name = "user%d" % next(user_ids)
    writer.write(("* welcome %s\n" % name).encode("utf-8"))
    broadcast("* %s joined" % name)
    members[writer] = name
    try:
        while True:
            try:
                raw = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return  # end-of-stream
            except asyncio.LimitOverrunError:
                return  # a line longer than MAX_LINE: close
            line = raw[:-1].decode("utf-8", "replace")
            if line.endswith("\r"):
                line = line[:-1]
            if line == "/quit":
                writer.write(b"* bye\n")
                await writer.drain()
                return
            if line:
                broadcast("<%s> %s" % (name, line), sender=writer)
    except ConnectionError:
        pass
    finally:
        del members[writer]
        broadcast("* %s left" % name)
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


async def main():
    parser = argparse.ArgumentParser(description="Line chat (asyncio).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000, help="0: any free port")
    args = parser.parse_args()
    server = await asyncio.start_server(chat, args.host, args.port, limit=MAX_LINE)
    print("listening on %s:%d" % server.sockets[0].getsockname()[:2], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
