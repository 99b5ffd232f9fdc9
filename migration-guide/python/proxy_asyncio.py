"""TCP proxy with backpressure, asyncio: the Python original of examples/pairs/proxy-modern.ts.

Two copy loops per client, one each way: read, write, await drain(). A slow reader on either
side makes drain() wait, so the loop stops reading the other. When one direction ends, its
writer is closed; the other direction then ends too, and both connections close.

    python3 proxy_asyncio.py --port 7000 --target 127.0.0.1:8000
"""
import argparse
import asyncio
import sys


async def copy(reader, writer):
    try:
        while True:
            data = await reader.read(16384)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def handler(target):
    async def serve(client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            copy(client_reader, upstream_writer), copy(upstream_reader, client_writer)
        )
        for writer in (upstream_writer, client_writer):
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    return serve


def address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


async def main():
    parser = argparse.ArgumentParser(description="TCP proxy (asyncio).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000, help="0: any free port")
    parser.add_argument("--target", type=address, required=True, help="HOST:PORT")
    args = parser.parse_args()
    server = await asyncio.start_server(handler(args.target), args.host, args.port)
    print("listening on %s:%d" % server.sockets[0].getsockname()[:2], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
