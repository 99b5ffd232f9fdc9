"""Echo, asyncore: the Python original of examples/pairs/echo-legacy.ts (and of echo_asyncio.py).

A listening dispatcher whose handle_accepted() wraps each new socket in a handler; the handler's
handle_read() receives what is there and sends it back. The loop calls the handlers.

    python3 -W ignore::DeprecationWarning echo_asyncore.py --port 7000
"""
import argparse
import asyncore
import socket
import sys

# Stop reading while this many bytes wait to go back to a client that does not read.
MAX_PENDING = 64 * 1024


class EchoHandler(asyncore.dispatcher_with_send):
    closing = False

    def handle_read(self):
        data = self.recv(65536)  # b"" at end-of-stream: recv() then calls handle_close()
        if data:
            self.send(data)  # dispatcher_with_send keeps what the socket could not take

    # Backpressure: a client that sends but never reads would make out_buffer grow forever.
    def readable(self):
        return not self.closing and len(self.out_buffer) < MAX_PENDING

    def handle_write(self):
        asyncore.dispatcher_with_send.handle_write(self)
        if self.closing and not self.out_buffer:
            self.close()

    # End-of-stream: send what is still buffered, then close (close() alone would drop it).
    def handle_close(self):
        self.closing = True
        if not self.out_buffer:
            self.close()


class EchoServer(asyncore.dispatcher):
    def __init__(self, host, port):
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(128)

    def handle_accepted(self, sock, addr):
        EchoHandler(sock)


def main():
    parser = argparse.ArgumentParser(description="Echo server (asyncore).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000, help="0: any free port")
    args = parser.parse_args()
    server = EchoServer(args.host, args.port)
    print("listening on %s:%d" % server.socket.getsockname()[:2], flush=True)
    try:
        asyncore.loop(timeout=30.0)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
