"""Request/response with per-request timeouts, asynchat: the original of examples/pairs/reqres-legacy.ts.

One request per line, one answer line per request, in order:
- TIME -> OK <ISO date>;  ECHO text -> OK text;  QUIT -> OK bye, then the server closes;
- SLOW n -> waits n ms, then OK slept n; past the request timeout: ERROR timeout;
- anything else -> ERROR unknown command; a bad n -> ERROR bad argument.

asyncore has no timers: the main loop runs asyncore.loop(count=1) with a timeout until the next
timer is due, then calls the due ones (the sched-module way). While a request runs, readable()
is false: nothing more is read.

    python3 -W ignore::DeprecationWarning reqres_asyncore.py --port 7000 --request-timeout 1000
"""
import argparse
import asynchat
import asyncore
import collections
import datetime
import heapq
import itertools
import re
import socket
import sys
import time

MAX_LINE = 1024
MAX_SLOW = 60000

# The timers: a heap of [deadline, sequence, callback]; a cancelled one has callback None.
timers = []
sequence = itertools.count()


def call_later(ms, callback):
    timer = [time.monotonic() + ms / 1000.0, next(sequence), callback]
    heapq.heappush(timers, timer)
    return timer


def cancel(timer):
    timer[2] = None


def run_timers():
    """Call the due timers; return the seconds until the next one (or None)."""
    while timers and timers[0][0] <= time.monotonic():
        callback = heapq.heappop(timers)[2]
        if callback is not None:
            callback()
    while timers and timers[0][2] is None:
        heapq.heappop(timers)
    return max(0.0, timers[0][0] - time.monotonic()) if timers else None


def iso_now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RequestHandler(asynchat.async_chat):
    def __init__(self, sock, request_timeout):
        asynchat.async_chat.__init__(self, sock)
        self.request_timeout = request_timeout
        self.set_terminator(b"\n")
        self.parts = []
        self.length = 0
        self.queue = collections.deque()
        self.busy = False
        self.quitting = False
        self.pending = []

    def collect_incoming_data(self, data):
        self.length += len(data)
        if self.length > MAX_LINE:
            self.handle_close()  # a line longer than MAX_LINE: just close
            return
        self.parts.append(data)

    def found_terminator(self):
        line = b"".join(self.parts).decode("utf-8", "replace")
        self.parts = []
        self.length = 0
        if self.quitting:
            return  # what follows QUIT is not answered
        self.queue.append(line[:-1] if line.endswith("\r") else line)
        self.next_request()

    # Read only when idle: the queue then holds at most one received chunk's requests.
    def readable(self):
        return not self.busy and not self.queue and not self.quitting

    def next_request(self):
        while not self.busy and self.queue:
            command, _, argument = self.queue.popleft().partition(" ")
            if command == "TIME":
                self.push(("OK %s\n" % iso_now()).encode("utf-8"))
            elif command == "ECHO":
                self.push(("OK %s\n" % argument).encode("utf-8"))
            elif command == "SLOW":
                self.slow(argument)
            elif command == "QUIT":
                self.queue.clear()
                self.quitting = True
                self.push(b"OK bye\n")
                self.close_when_done()
            else:
                self.push(b"ERROR unknown command\n")

    def slow(self, argument):
        if not re.fullmatch(r"[0-9]+", argument) or int(argument) > MAX_SLOW:
            self.push(b"ERROR bad argument\n")
            return
        ms = int(argument)
        self.busy = True

        def answer(reply):
            for timer in self.pending:  # cancel the loser
                cancel(timer)
            self.pending = []
            self.busy = False
            self.push((reply + "\n").encode("utf-8"))
            self.next_request()

        self.pending = [
            call_later(ms, lambda: answer("OK slept %d" % ms)),  # the "work"
            call_later(self.request_timeout, lambda: answer("ERROR timeout")),  # the deadline
        ]

    def handle_close(self):
        for timer in self.pending:  # no timer outlives the connection
            cancel(timer)
        self.pending = []
        self.close()


class RequestServer(asyncore.dispatcher):
    def __init__(self, host, port, request_timeout):
        asyncore.dispatcher.__init__(self)
        self.request_timeout = request_timeout
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(128)

    def handle_accepted(self, sock, addr):
        RequestHandler(sock, self.request_timeout)


def main():
    parser = argparse.ArgumentParser(description="Request/response server (asyncore/asynchat).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000, help="0: any free port")
    parser.add_argument("--request-timeout", type=int, default=1000, help="ms per request")
    args = parser.parse_args()
    server = RequestServer(args.host, args.port, args.request_timeout)
    print("listening on %s:%d" % server.socket.getsockname()[:2], flush=True)
    try:
        while asyncore.socket_map:
            wait = run_timers()
            asyncore.loop(timeout=30.0 if wait is None else wait, count=1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
