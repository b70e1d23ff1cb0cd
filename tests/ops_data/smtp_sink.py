#!/usr/bin/python3
"""A real SMTP server for rampart's alert tests (Debian's python3-aiosmtpd).

usage: smtp_sink.py HOST PORT DIR [CERT KEY]
With CERT and KEY the server offers STARTTLS. Every message is written to DIR/NNNN.eml: envelope lines (MAIL FROM, RCPT TO, HELO), a blank
line, then the message as received. Prints "ready" once listening; runs until killed.
"""
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        tmp = os.path.join(self.outdir, ".%04d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-From: %s\n" % envelope.mail_from).encode())
            for r in envelope.rcpt_tos:
                f.write(("X-Envelope-To: %s\n" % r).encode())
            f.write(("X-Envelope-Helo: %s\n" % session.host_name).encode())
            f.write(("X-Envelope-TLS: %s\n\n" % ("yes" if session.ssl else "no")).encode())
            content = envelope.original_content or envelope.content
            if isinstance(content, str):
                content = content.encode()
            f.write(content)
        # Rename so that readers never see a half-written file.
        os.rename(tmp, os.path.join(self.outdir, "%04d.eml" % n))
        return "250 Message accepted for delivery"


def main():
    host, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(outdir, exist_ok=True)
    # Continue numbering after messages of an earlier run in the same directory.
    sink = Sink(outdir)
    sink.count = len([n for n in os.listdir(outdir) if n.endswith(".eml")])
    kwargs = {}
    if len(sys.argv) > 5:
        import ssl
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        kwargs["tls_context"] = ctx
    ctl = Controller(sink, hostname=host, port=port, **kwargs)
    ctl.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    ctl.stop()


if __name__ == "__main__":
    main()
