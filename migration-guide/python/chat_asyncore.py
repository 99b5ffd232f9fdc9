"""Line chat with broadcast, asynchat: the Python original of examples/pairs/chat-legacy.ts.

One message per line ("\\n"; a trailing "\\r" is ignored):
- on connect you get "* welcome userN"; the others get "* userN joined";
- a line of text goes to everyone else as "<userN> text" (empty lines are ignored);
- "/quit" answers "* bye" and closes; the others get "* userN left".
A line longer than 1024 bytes closes the connection. A client whose output queue passes
MAX_BACKLOG_MESSAGES (it does not read) is disconnected, so memory stays bounded.

    python3 -W ignore::DeprecationWarning chat_asyncore.py --port 7000
"""
import argparse
import asynchat
import asyncore
import itertools
import socket
import sys

MAX_LINE = 1024
MAX_BACKLOG_MESSAGES = 256

user_ids = itertools.count(1)


class ChatHandler(asynchat.async_chat):
    def __init__(self, sock):
        asynchat.async_chat.__init__(self, sock)
        self.name = "user%d" % next(user_ids)
        self.set_terminator(b"\n")
        self.parts = []
        self.length = 0
        self.gone = False
        self.push(("* welcome %s\n" % self.name).encode("utf-8"))
        self.broadcast("* %s joined" % self.name)

    def broadcast(self, line):
        """asyncore's idiom: push to every other chat in the map; drop those far behind."""
        data = (line + "\n").encode("utf-8")
        for channel in list(self._map.values()):
            if not isinstance(channel, ChatHandler) or channel is self or channel.gone:
                continue
            channel.push(data)
            if len(channel.producer_fifo) > MAX_BACKLOG_MESSAGES:
                channel.discard_buffers()  # drop its queue: the memory we protect
                channel.handle_close()  # the others are told it left

    def collect_incoming_data(self, data):
        self.length += len(data)
        if self.length > MAX_LINE:
            self.handle_close()
            return
        self.parts.append(data)

    def found_terminator(self):
        line = b"".join(self.parts).decode("utf-8", "replace")
        self.parts = []
        self.length = 0
        if line.endswith("\r"):
            line = line[:-1]
        if line == "/quit":
            self.push(b"* bye\n")
            self.close_when_done()  # close once everything queued has been sent
        elif line:
            self.broadcast("<%s> %s" % (self.name, line))

    # asyncore may report a close more than once: tell the others only the first time.
    def handle_close(self):
        if self.gone:
            return
        self.gone = True
        self.close()
        self.broadcast("* %s left" % self.name)


class ChatServer(asyncore.dispatcher):
    def __init__(self, host, port):
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(128)

    def handle_accepted(self, sock, addr):
        ChatHandler(sock)


def main():
    parser = argparse.ArgumentParser(description="Line chat (asyncore/asynchat).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000, help="0: any free port")
    args = parser.parse_args()
    server = ChatServer(args.host, args.port)
    print("listening on %s:%d" % server.socket.getsockname()[:2], flush=True)
    try:
        asyncore.loop(timeout=30.0)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
