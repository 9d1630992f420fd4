"""A byte pipe between this process's stdin/stdout and a TCP port on 127.0.0.1.

The Rust tests run the gateway's stdio transport in-process on a socket; an MCP client spawns
this relay as its "server command", so the client speaks real stdio and the gateway sees it."""

import socket
import sys
import threading

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))


def up():
    while True:
        data = sys.stdin.buffer.read1(65536)
        if not data:
            sock.shutdown(socket.SHUT_WR)
            return
        sock.sendall(data)


threading.Thread(target=up, daemon=True).start()
while True:
    data = sock.recv(65536)
    if not data:
        break
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
