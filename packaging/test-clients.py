#!/usr/bin/env python3
"""SMTP/POP3 clients for packaging/test-chroot.sh (python3 standard library only; runs in the chroot).

  wait PORT...                             until every 127.0.0.1:PORT accepts a connection (30 s)
  roundtrip SMTPPORT POPPORT USER PASS MODE send a message to USER (MODE starttls|plain), fetch it over
                                           POP3 (USER/PASS), compare the body byte for byte, delete it
  send SMTPPORT RCPT FILE                  send a message to RCPT, keep a copy in FILE
  samebody SENT RECEIVED                   the bodies (after the header) of two files are identical
"""
import poplib
import smtplib
import socket
import ssl
import sys
import time
import uuid


def message(rcpt: str) -> bytes:
    tag = uuid.uuid4().hex
    body = (
        "Line one of the packaging test.\r\n"
        ".A line that starts with a dot (stuffed on the wire).\r\n"
        "..Two dots.\r\n"
        "\r\n"
        + "".join(f"{i:04d} {'x' * 70}\r\n" for i in range(200))
        + f"end {tag}\r\n"
    )
    head = (
        "From: tester@example.org\r\n"
        f"To: {rcpt}\r\n"
        f"Subject: packaging test {tag}\r\n"
        f"Message-ID: <{tag}@example.org>\r\n"
    )
    return (head + "\r\n" + body).encode("ascii")


def body_of(data: bytes) -> bytes:
    data = data.replace(b"\r\n", b"\n")
    return data.split(b"\n\n", 1)[1]


def wait(ports):
    deadline = time.monotonic() + 30
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit(f"port {port} not open")
                time.sleep(0.1)


def send(port: int, rcpt: str, msg: bytes, starttls: bool):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        if starttls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s.starttls(context=ctx)
            s.ehlo("client.test")
            print(f"  STARTTLS: {s.sock.version()} {s.sock.cipher()[0]}")
        refused = s.sendmail("tester@example.org", [rcpt], msg)
        if refused:
            sys.exit(f"refused: {refused}")


def roundtrip(smtp_port, pop_port, user, password, mode):
    msg = message(user)
    send(int(smtp_port), user, msg, mode == "starttls")
    deadline = time.monotonic() + 30
    while True:
        pop = poplib.POP3("127.0.0.1", int(pop_port), timeout=30)
        pop.user(user)
        pop.pass_(password)
        count, _ = pop.stat()
        if count > 0:
            break
        pop.quit()
        if time.monotonic() > deadline:
            sys.exit("no message in the mailbox")
        time.sleep(0.2)
    _, lines, _ = pop.retr(count)
    got = b"\r\n".join(lines) + b"\r\n"  # poplib un-stuffs leading dots
    pop.dele(count)
    pop.quit()
    if body_of(got) != body_of(msg):
        sys.exit("body differs:\n" + got.decode("ascii", "replace")[:2000])
    print(f"  port {smtp_port} -> POP3 {pop_port}: {len(body_of(msg))} body bytes identical")


def main(argv):
    cmd = argv[1]
    if cmd == "wait":
        wait(argv[2:])
    elif cmd == "roundtrip":
        roundtrip(*argv[2:7])
    elif cmd == "send":
        msg = message(argv[3])
        with open(argv[4], "wb") as f:
            f.write(msg)
        send(int(argv[2]), argv[3], msg, False)
    elif cmd == "samebody":
        a = body_of(open(argv[2], "rb").read())
        b = body_of(open(argv[3], "rb").read())
        if a != b:
            sys.exit(f"bodies differ: {len(a)} vs {len(b)} bytes")
        print(f"  delivered body identical ({len(a)} bytes)")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
