"""A trivial HTTP/1.1 endpoint: the floor a benchmark client reaches when the server costs ~0.

    python benchmarks/trivial_http.py PORT

Reads each kept-alive request (head, then ``Content-Length`` bytes) and answers a fixed
200 with an AssumeRole-sized XML body, nothing parsed or computed. ``sigv4_bench.py`` runs
its HTTP client against it in every round: that latency is the client's own cost plus the
loopback round trip, i.e. the client's ceiling, and what is left of a server's latency above
it is the server's.
"""

from __future__ import annotations

import socket
import sys
import threading

BODY = b"<AssumeRoleResponse>" + b"x" * 1500 + b"</AssumeRoleResponse>"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
)


def serve(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""
    with conn:
        while data := conn.recv(65536):
            buffer += data
            while True:
                head, sep, rest = buffer.partition(b"\r\n\r\n")
                if not sep:
                    break
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if len(rest) < length:
                    break
                buffer = rest[length:]
                conn.sendall(RESPONSE)


def main() -> None:
    listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
