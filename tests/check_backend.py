#!/usr/bin/env python3
"""Purpose-built HTTP backends for the checker tests (loopback only).

usage: check_backend.py MODE [--host H] [--cert C --key K [--client-ca CA]] [--delay S]
Prints "READY <port>" once listening on an ephemeral port, then serves until killed.
Modes: ok, status500, hang, slow, huge, chunked, keepalive, garbage, tls, raw (--file F),
udp-reply, udp-silent, dns-ok, dns-nx, dns-noise, smtp-ok, smtp-busy, smtp-badhelo;
--cert/--key wrap any mode in TLS.
"""
import argparse, socket, ssl, sys, threading, time

BODY = b"hello\n"
RAW_FILE = None
OK = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + BODY


def read_request(c):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data


def smtp(c, mode):
    # smtp-ok: 220 greeting, multi-line 250 to HELO, 221 to QUIT; smtp-busy: 554 greeting;
    # smtp-badhelo: 501 to HELO. Received lines go to stderr.
    c.sendall(b"554 busy\r\n" if mode == "smtp-busy" else b"220 test ESMTP\r\n")
    f = c.makefile("rb")
    for line in f:
        sys.stderr.write("SMTP %s\n" % line.decode(errors="replace").strip())
        sys.stderr.flush()
        if line.upper().startswith(b"HELO"):
            c.sendall(b"501 no\r\n" if mode == "smtp-badhelo" else b"250-test\r\n250 OK\r\n")
        elif line.upper().startswith(b"QUIT"):
            c.sendall(b"221 bye\r\n")
            return


def handle(c, mode, delay):
    try:
        if mode.startswith("smtp"):
            smtp(c, mode)
            return
        if mode == "hang":
            read_request(c)
            time.sleep(3600)
            return
        if mode == "keepalive":
            # HTTP/1.1 with Content-Length; the connection stays open for more requests.
            while read_request(c) is not None:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n")
            return
        if read_request(c) is None:
            return
        if mode in ("ok", "tls"):
            c.sendall(OK)
        elif mode == "status500":
            c.sendall(b"HTTP/1.0 500 Internal Server Error\r\n\r\n" + BODY)
        elif mode == "slow":
            for b in OK:
                c.sendall(bytes([b]))
                time.sleep(delay)
        elif mode == "huge":
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
            block = b"\0" * 65536
            sent = 0
            try:
                while sent < (1 << 30):
                    c.sendall(block)
                    sent += len(block)
            finally:
                sys.stderr.write("SENT %d\n" % sent)
                sys.stderr.flush()
        elif mode == "chunked":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n\n\r\n0\r\n\r\n")
        elif mode == "garbage":
            c.sendall(b"garbage")
        elif mode == "raw":
            with open(RAW_FILE, "rb") as f:
                c.sendall(f.read())
    except OSError:
        pass
    finally:
        try:
            c.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--client-ca", help="with --cert: require a client certificate signed by this CA")
    ap.add_argument("--delay", type=float, default=0.01)
    ap.add_argument("--file", help="raw mode: the bytes to answer with")
    a = ap.parse_args()
    global RAW_FILE
    RAW_FILE = a.file
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    if a.mode in ("dns-ok", "dns-nx", "dns-noise"):
        # DNS: answer with the query's id, QR set and RCODE 0 (NXDOMAIN for dns-nx);
        # dns-noise first sends a reply with another id, which must be skipped.
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((a.host, a.port))
        print("READY %d" % u.getsockname()[1], flush=True)
        while True:
            q, peer = u.recvfrom(65536)
            if len(q) < 12:
                continue
            rcode = 3 if a.mode == "dns-nx" else 0
            head = q[0:2] + bytes([0x81, 0x80 | rcode]) + q[4:6] + b"\0" * 6
            if a.mode == "dns-noise":
                other = bytes([q[0] ^ 0xff, q[1]])
                u.sendto(other + bytes([0x81, 0x80]) + q[4:6] + b"\0" * 6 + q[12:], peer)
            u.sendto(head + q[12:], peer)
    if a.mode in ("udp-reply", "udp-silent"):
        # UDP: udp-reply answers every datagram with 0a 1b followed by the request;
        # udp-silent reads and never answers.
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((a.host, a.port))
        print("READY %d" % u.getsockname()[1], flush=True)
        while True:
            data, peer = u.recvfrom(65536)
            if a.mode == "udp-reply":
                u.sendto(b"\x0a\x1b" + data, peer)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.host, a.port))
    s.listen(128)
    ctx = None
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        if a.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(a.client_ca)
    print("READY %d" % s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        if ctx is not None:
            try:
                c = ctx.wrap_socket(c, server_side=True)
            except (ssl.SSLError, OSError) as e:
                sys.stderr.write("TLS: %s\n" % e)
                c.close()
                continue
        threading.Thread(target=handle, args=(c, a.mode, a.delay), daemon=True).start()


if __name__ == "__main__":
    main()
