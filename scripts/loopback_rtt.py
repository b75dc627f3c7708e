#!/usr/bin/env python3
"""Round-trip time of a notification-sized message over TCP loopback.

The evidence behind FleConfig's default finalize wait (docs/protocols/fle.md § Configuration):
a 48-byte ping-pong (a 44-byte election notification and its 4-byte frame length) with
TCP_NODELAY, reporting the median and the tail. Usage: scripts/loopback_rtt.py [ROUND_TRIPS]
"""
import socket
import sys
import threading
import time

MESSAGE = b"x" * 48


def echo(server: socket.socket) -> None:
    conn, _ = server.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        data = conn.recv(64)
        if not data:
            return
        conn.sendall(data)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    threading.Thread(target=echo, args=(server,), daemon=True).start()
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rtts = []
    for _ in range(rounds):
        start = time.perf_counter()
        client.sendall(MESSAGE)
        got = 0
        while got < len(MESSAGE):
            got += len(client.recv(64))
        rtts.append(time.perf_counter() - start)
    rtts.sort()

    def quantile(q: float) -> float:
        return rtts[max(0, int(q * len(rtts)) - 1)] * 1e6

    print(
        f"round trips={len(rtts)} median={quantile(0.5):.1f}us p99={quantile(0.99):.1f}us "
        f"p99.9={quantile(0.999):.1f}us max={rtts[-1] * 1e6:.0f}us"
    )


if __name__ == "__main__":
    main()
