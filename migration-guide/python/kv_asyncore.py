"""The key-value server as it runs today: asyncore + asynchat (Python 3.11, the last with them).

This is the original that migration-guide/step-by-step.md migrates; kv-legacy.ts is its port.
One command per line, "\\n"-terminated ("\\r" before it is ignored); every client shares one store:

    SET key value   -> OK                  (the value is the rest of the line, spaces included)
    GET key         -> VALUE value | NOT_FOUND
    DEL key         -> DELETED | NOT_FOUND
    INCR key        -> INTEGER n | ERROR not an integer   (a missing key counts as 0)
    KEYS [prefix]   -> KEYS n, then the n keys, sorted, one per line
    DUMP [prefix]   -> one "key value" line per key, sorted, then END n (streamed by a producer)
    QUIT            -> BYE, then the server closes the connection
    anything else   -> ERROR unknown command | ERROR wrong number of arguments

A line longer than 1024 bytes gets "ERROR line too long" and the connection is closed; input
after that, or after QUIT, is ignored.

    python3 -W ignore::DeprecationWarning kv_asyncore.py --port 8000
"""
import argparse
import asynchat
import asyncore
import re
import socket
import sys

MAX_LINE = 1024
DUMP_PIECE = 16 * 1024
TOO_LONG = b"ERROR line too long\n"

# How many arguments each command takes: (fewest, most).
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


class DumpProducer:
    """Streams DUMP: asynchat calls more() only once the previous piece has been sent."""

    def __init__(self, keys):
        self.keys = keys
        self.next = 0
        self.sent = 0
        self.done = False

    def more(self):
        if self.done:
            return b""
        piece = []
        size = 0
        while size < DUMP_PIECE and self.next < len(self.keys):
            key = self.keys[self.next]
            self.next += 1
            value = store.get(key)
            if value is None:  # deleted since the snapshot
                continue
            line = "%s %s\n" % (key, value)
            piece.append(line)
            size += len(line)
            self.sent += 1
        if self.next == len(self.keys) and size < DUMP_PIECE:
            piece.append("END %d\n" % self.sent)
            self.done = True
        return "".join(piece).encode("utf-8")


class KvChannel(asynchat.async_chat):
    def __init__(self, sock):
        asynchat.async_chat.__init__(self, sock)
        self.set_terminator(b"\n")
        self.parts = []
        self.length = 0
        self.done = False

    def collect_incoming_data(self, data):
        if self.done:  # after QUIT or a too-long line, input is ignored
            return
        self.length += len(data)
        if self.length > MAX_LINE:
            self.push(TOO_LONG)
            self.finish()
            return
        self.parts.append(data)

    def found_terminator(self):
        if self.done:
            return
        line = b"".join(self.parts).decode("utf-8", "replace")
        self.parts = []
        self.length = 0
        name, args = parse_line(line)
        error = check_command(name, args)
        if error is not None:
            self.push(error)
        else:
            getattr(self, "cmd_" + name.lower())(*args)

    def cmd_set(self, key, value):
        store[key] = value
        self.push(b"OK\n")

    def cmd_get(self, key):
        value = store.get(key)
        self.push(b"NOT_FOUND\n" if value is None else ("VALUE %s\n" % value).encode("utf-8"))

    def cmd_del(self, key):
        if store.pop(key, None) is None:
            self.push(b"NOT_FOUND\n")
        else:
            self.push(b"DELETED\n")

    def cmd_incr(self, key):
        current = store.get(key, "0")
        if not INTEGER.fullmatch(current):
            self.push(b"ERROR not an integer\n")
            return
        store[key] = str(int(current) + 1)
        self.push(("INTEGER %s\n" % store[key]).encode("utf-8"))

    def cmd_keys(self, prefix=""):
        keys = sorted(key for key in store if key.startswith(prefix))
        self.push(("KEYS %d\n" % len(keys) + "".join(key + "\n" for key in keys)).encode("utf-8"))

    def cmd_dump(self, prefix=""):
        self.push_with_producer(DumpProducer(sorted(k for k in store if k.startswith(prefix))))

    def cmd_quit(self):
        self.push(b"BYE\n")
        self.finish()

    def finish(self):
        # Ignore whatever follows, then close once every queued reply (a DUMP too) is sent.
        self.done = True
        self.parts = []
        self.set_terminator(None)
        self.close_when_done()


class KvServer(asyncore.dispatcher):
    def __init__(self, host, port):
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(128)

    def handle_accepted(self, sock, addr):
        KvChannel(sock)


def main():
    parser = argparse.ArgumentParser(description="The key-value server (asyncore/asynchat).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    args = parser.parse_args()
    server = KvServer(args.host, args.port)
    host, port = server.socket.getsockname()[:2]
    print("listening on %s:%d" % (host, port), flush=True)
    try:
        asyncore.loop(timeout=30.0)
    except KeyboardInterrupt:
        pass
    finally:
        asyncore.close_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
