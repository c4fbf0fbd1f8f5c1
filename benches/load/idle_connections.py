#!/usr/bin/env python3
"""Resident memory per idle keep-alive connection of a running HTTP server.

    benches/load/idle_connections.py <pid> <host:port> <path> [header: value ...]

Reads the server's VmRSS, opens N connections (IDLE_CONNECTIONS, default 10000), sends one
request on each (with the given headers) and reads its answer, keeps them all open, reads
VmRSS again and prints the difference per connection. Run it against scangate and against
the reference proxy (examples/bare_pingora.rs) to see whose memory a connection is: the
capacity bench (`cargo bench --bench capacity`) measures scangate alone. Needs as many file
descriptors as connections (it raises its soft limit to the hard one).
"""

import resource
import selectors
import socket
import sys
import os
import time


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    pid, target, path, headers = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    host, port = target.rsplit(":", 1)
    n = int(os.environ.get("IDLE_CONNECTIONS", "10000"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    request = (f"GET {path} HTTP/1.1\r\nHost: {target}\r\n"
               + "".join(h + "\r\n" for h in headers) + "\r\n").encode()

    before = vm_rss_kib(pid)
    conns, sel = [], selectors.DefaultSelector()
    pending = 0
    for _ in range(n):
        s = socket.create_connection((host, int(port)))
        s.sendall(request)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        conns.append(s)
        pending += 1
        # Keep at most 256 answers outstanding, so the server is never flooded.
        while pending >= 256 or (len(conns) == n and pending):
            for key, _ in sel.select(timeout=10):
                data = key.fileobj.recv(65536)
                if not data or b"\r\n\r\n" in data:
                    if not data or not data.startswith(b"HTTP/1.1 2"):
                        sys.exit(f"unexpected answer: {data[:80]!r}")
                    sel.unregister(key.fileobj)
                    pending -= 1
    time.sleep(2)
    after = vm_rss_kib(pid)
    print(f"{n} idle keep-alive connections: VmRSS {before / 1024:.1f} -> {after / 1024:.1f} MiB, "
          f"{(after - before) / n:.1f} KiB per connection")
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
