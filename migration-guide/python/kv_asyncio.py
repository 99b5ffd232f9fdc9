"""The key-value server in asyncio streams: the same protocol, byte for byte, as kv_asyncore.py.

Where a team that left asyncore before Python 3.12 would have ended up; kv-modern.ts is its
TypeScript twin. See kv_asyncore.py for the protocol.

    python3 kv_asyncio.py --port 8000
"""
import argparse
import asyncio
import re
import sys

MAX_LINE = 1024
DUMP_PIECE = 16 * 1024
TOO_LONG = b"ERROR line too long\n"

ARITY = {
    "SET": (2, 2),
    "GET": (1, 1),
    "DEL": (1, 1),
    "INCR": (1, 1),
    "KEYS": (0, 1),
    "DUMP": (0, 1),
    "QUIT": (0, 0),
}

INTEGER = re.compile(r"-?[0-9]{1,15}")

store = {}


def parse_line(line):
    """Split a command line into its name and arguments (SET keeps the rest as one value)."""
    if line.endswith("\r"):
        line = line[:-1]
    name, space, rest = line.partition(" ")
    if not space:
        return name, []
    if name == "SET":
        key, space, value = rest.partition(" ")
        return name, [key, value] if space else [key]
    return name, rest.split(" ")


def check_command(name, args):
    """The error reply for a malformed command, or None."""
    if name not in ARITY:
        return b"ERROR unknown command\n"
    fewest, most = ARITY[name]
    if not fewest <= len(args) <= most or "" in args:
        return b"ERROR wrong number of arguments\n"
    return None


async def cmd_set(writer, key, value):
    store[key] = value
    writer.write(b"OK\n")


async def cmd_get(writer, key):
    value = store.get(key)
    writer.write(b"NOT_FOUND\n" if value is None else ("VALUE %s\n" % value).encode("utf-8"))


async def cmd_del(writer, key):
    writer.write(b"NOT_FOUND\n" if store.pop(key, None) is None else b"DELETED\n")


async def cmd_incr(writer, key):
    current = store.get(key, "0")
    if not INTEGER.fullmatch(current):
        writer.write(b"ERROR not an integer\n")
        return
    store[key] = str(int(current) + 1)
    writer.write(("INTEGER %s\n" % store[key]).encode("utf-8"))


async def cmd_keys(writer, prefix=""):
    keys = sorted(key for key in store if key.startswith(prefix))
    writer.write(("KEYS %d\n" % len(keys) + "".join(key + "\n" for key in keys)).encode("utf-8"))


async def cmd_dump(writer, prefix=""):
    # A piece at a time, each after the client has taken the last: a slow reader slows the dump.
    sent = 0
    piece = []
    size = 0
    for key in sorted(key for key in store if key.startswith(prefix)):
        value = store.get(key)
        if value is None:  # deleted since the snapshot
            continue
        line = "%s %s\n" % (key, value)
        piece.append(line)
        size += len(line)
        sent += 1
        if size >= DUMP_PIECE:
            writer.write("".join(piece).encode("utf-8"))
            piece = []
            size = 0
            await writer.drain()
    piece.append("END %d\n" % sent)
    writer.write("".join(piece).encode("utf-8"))


COMMANDS = {
    "SET": cmd_set,
    "GET": cmd_get,
    "DEL": cmd_del,
    "INCR": cmd_incr,
    "KEYS": cmd_keys,
    "DUMP": cmd_dump,
}


async def serve(reader, writer):
    """One connection: read a line, answer it, until QUIT, a too-long line or end-of-stream."""
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return  # end-of-stream (a last line without "\n" is ignored)
            except asyncio.LimitOverrunError:
                writer.write(TOO_LONG)
                return
            if len(line) - 1 > MAX_LINE:
                writer.write(TOO_LONG)
                return
            name, args = parse_line(line[:-1].decode("utf-8", "replace"))
            error = check_command(name, args)
            if error is not None:
                writer.write(error)
            elif name == "QUIT":
                writer.write(b"BYE\n")
                return
            else:
                await COMMANDS[name](writer, *args)
            await writer.drain()
    except ConnectionError:
        pass  # the client went away: nothing to answer
    finally:
        writer.close()  # sends what was written, then closes
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


async def main():
    parser = argparse.ArgumentParser(description="The key-value server (asyncio streams).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    args = parser.parse_args()
    server = await asyncio.start_server(serve, args.host, args.port, limit=MAX_LINE)
    host, port = server.sockets[0].getsockname()[:2]
    print("listening on %s:%d" % (host, port), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
