"""TCP proxy with backpressure, asyncore: the Python original of examples/pairs/proxy-legacy.ts.

Each client connection gets a second dispatcher connected to the target; the two are peers.
A side reads only while its peer's out_buffer has room (readable()), so a slow reader on either
side slows the other and nothing is buffered without bound. When one side ends, both close once
what is buffered for them has been sent.

    python3 -W ignore::DeprecationWarning proxy_asyncore.py --port 7000 --target 127.0.0.1:8000
"""
import argparse
import asyncore
import socket
import sys

# Bytes a side may hold for its peer before the peer stops reading.
MAX_PENDING = 64 * 1024


class ProxySide(asyncore.dispatcher_with_send):
    def __init__(self, sock=None):
        asyncore.dispatcher_with_send.__init__(self, sock)
        self.peer = None
        self.closing = False

    # The backpressure rule: read only while the peer can buffer what we would pass on.
    def readable(self):
        return (
            not self.closing
            and self.peer is not None
            and self.peer.connected
            and len(self.peer.out_buffer) < MAX_PENDING
        )

    def handle_read(self):
        data = self.recv(16384)  # b"" at end-of-stream: recv() then calls handle_close()
        if data:
            self.peer.send(data)  # buffered by dispatcher_with_send if need be

    def handle_connect(self):
        pass  # the target accepted: handle_write() now flushes what the client sent

    def writable(self):
        return asyncore.dispatcher_with_send.writable(self) or self.closing

    def handle_write(self):
        asyncore.dispatcher_with_send.handle_write(self)
        if self.closing and not self.out_buffer:
            self.close()

    def close_when_flushed(self):
        self.closing = True
        if not self.out_buffer:
            self.close()

    # One side ended or failed: both go, each after sending what is buffered for it.
    def handle_close(self):
        self.close_when_flushed()
        if self.peer is not None:
            self.peer.close_when_flushed()


class ProxyServer(asyncore.dispatcher):
    def __init__(self, host, port, target):
        asyncore.dispatcher.__init__(self)
        self.target = target
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(128)

    def handle_accepted(self, sock, addr):
        client = ProxySide(sock)
        upstream = ProxySide()
        client.peer = upstream
        upstream.peer = client
        upstream.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.connect(self.target)  # until connected, the client is not read


def address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def main():
    parser = argparse.ArgumentParser(description="TCP proxy (asyncore).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000, help="0: any free port")
    parser.add_argument("--target", type=address, required=True, help="HOST:PORT")
    args = parser.parse_args()
    server = ProxyServer(args.host, args.port, args.target)
    print("listening on %s:%d" % server.socket.getsockname()[:2], flush=True)
    try:
        asyncore.loop(timeout=30.0)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
