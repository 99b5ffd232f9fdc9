"""Request/response with per-request timeouts, asyncio: the original of examples/pairs/reqres-modern.ts.

The protocol of reqres_asyncore.py. Waiting is await; the deadline is asyncio.wait_for(), which
cancels the work when it fires.

    python3 reqres_asyncio.py --port 7000 --request-timeout 1000
"""
import argparse
import asyncio
import datetime
import re
import sys

MAX_LINE = 1024
MAX_SLOW = 60000


def iso_now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def slow(ms):
    await asyncio.sleep(ms / 1000.0)
    return "OK slept %d" % ms


async def answer(line, request_timeout):
    command, _, argument = line.partition(" ")
    if command == "TIME":
        return "OK %s" % iso_now()
    if command == "ECHO":
        return "OK %s" % argument
    if command == "SLOW":
        if not re.fullmatch(r"[0-9]+", argument) or int(argument) > MAX_SLOW:
            return "ERROR bad argument"
        try:
            return await asyncio.wait_for(slow(int(argument)), request_timeout / 1000.0)
        except asyncio.TimeoutError:
            return "ERROR timeout"
    return "ERROR unknown command"


def handler(request_timeout):
    async def serve(reader, writer):
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return  # end-of-stream, or a line longer than MAX_LINE: close
                line = raw[:-1].decode("utf-8", "replace")
                if line.endswith("\r"):
                    line = line[:-1]
                if line.partition(" ")[0] == "QUIT":
                    writer.write(b"OK bye\n")
                    return
                writer.write((await answer(line, request_timeout) + "\n").encode("utf-8"))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    return serve


async def main():
    parser = argparse.ArgumentParser(description="Request/response server (asyncio).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000, help="0: any free port")
    parser.add_argument("--request-timeout", type=int, default=1000, help="ms per request")
    args = parser.parse_args()
    server = await asyncio.start_server(
        handler(args.request_timeout), args.host, args.port, limit=MAX_LINE
    )
    print("listening on %s:%d" % server.sockets[0].getsockname()[:2], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
