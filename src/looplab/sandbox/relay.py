"""The in-sandbox relay: TCP 127.0.0.1:PORT inside a sandbox to a Unix socket bound from the host.

A sandbox has its own network namespace with only loopback; services on the host (the CLI
agents' egress proxy, a lab's host service) are reached through a Unix socket bound into the
sandbox, and this stdlib-only program, started inside, relays TCP connections to it.
"""

# The in-sandbox forwarder: TCP 127.0.0.1:PORT -> a Unix socket. Stdlib only, run as a file.
FORWARDER_SOURCE = r"""
import socket, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]

def copy(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

def serve(client):
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        up.connect(path)
    except OSError:
        client.close()
        return
    t = threading.Thread(target=copy, args=(up, client), daemon=True)
    t.start()
    copy(client, up)
    t.join()
    client.close()
    up.close()

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(64)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""
