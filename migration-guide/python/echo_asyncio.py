"""Echo, asyncio streams: the Python original of examples/pairs/echo-modern.ts.

One coroutine per connection: read, write, drain, until end-of-stream; then close.

    python3 echo_asyncio.py --port 7000
"""
import argparse
import asyncio
import sys


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:  # end-of-stream
                break
            writer.write(data)
            await writer.drain()  # backpressure: wait while the client does not read
    except ConnectionError:
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


async def main():
    parser = argparse.ArgumentParser(description="Echo server (asyncio).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000, help="0: any free port")
    args = parser.parse_args()
    server = await asyncio.start_server(echo, args.host, args.port)
    print("listening on %s:%d" % server.sockets[0].getsockname()[:2], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
