#!/usr/bin/env python3
"""Small SMTP load/probe client for the system tests and the ingest benchmark (stdlib only).

Why not smtp-source alone: smtp-source does not say which messages got a 250, and the crash test must
know exactly which message ids relayd acknowledged ("250 2.0.0 Ok: queued as <16 hex>").

Modes
  send  HOST:PORT  -n N -k K ...   send N messages over K parallel sessions; append every acknowledged
                                   queue id to --ids FILE (one per line, flushed at once); reconnect after
                                   drops/restarts; stop at --deadline seconds whatever happened.
                                   --latency FILE writes one time-to-250 (seconds) per acknowledged message.
                                   --stop-file FILE: start no new message once FILE exists.
  idle  HOST:PORT  -k K ...        open K sessions (EHLO done), spread over source addresses 127.0.0.x,
                                   touch --ready FILE, hold them --hold seconds (or until SIGTERM).
  big   HOST:PORT  --size BYTES    send one message of about BYTES, streamed in 64 KiB chunks.
  bdat  HOST:PORT                  send one message with BDAT (RFC 3030), print the final reply.
Exit status: 0 when the mode's goal was met, 1 otherwise. Every socket has a timeout; every loop is bounded.
"""
import argparse
import os
import re
import signal
import socket
import sys
import threading
import time

QUEUED = re.compile(rb"^250[ -].*queued as ([0-9A-Fa-f]{16})", re.M)


class Session:
    """One SMTP connection with line-based reply reading (multi-line replies joined)."""

    def __init__(self, host, port, timeout, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"\r\n".join(lines)

    def cmd(self, text, expect):
        self.sock.sendall(text.encode() + b"\r\n")
        code, full = self.reply()
        if code // 100 != expect:
            raise RuntimeError(f"{text.split()[0]} -> {full.decode(errors='replace')}")
        return full

    def open(self, helo):
        code, full = self.reply()
        if code != 220:
            raise RuntimeError(f"banner {full!r}")
        return self.cmd(f"EHLO {helo}", 2)

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.sock.close()


def body_of(size, tag):
    """A message of about `size` bytes: headers plus 78-byte lines (no dot-stuffing needed)."""
    head = f"Subject: test {tag}\r\nMessage-ID: <{tag}@client.test>\r\n\r\n".encode()
    line = b"x" * 76 + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


def cmd_send(a):
    host, port = a.target.rsplit(":", 1)
    port = int(port)
    deadline = time.monotonic() + a.deadline
    lock = threading.Lock()
    ids = open(a.ids, "a", buffering=1) if a.ids else None
    lat = open(a.latency, "w", buffering=1) if a.latency else None
    state = {"next": 0, "acked": 0, "rejected": 0, "errors": 0}

    def take():
        with lock:
            if state["next"] >= a.n or (a.stop_file and os.path.exists(a.stop_file)):
                return None
            state["next"] += 1
            return state["next"]

    def worker(w):
        src = a.source_prefix + str(a.source_base + w % a.sources) if a.sources else None
        pending = None  # a message whose transaction broke is retried (with a new attempt) on reconnect
        while time.monotonic() < deadline:
            try:
                s = Session(host, port, a.timeout, src)
                s.open("client.test")
            except (OSError, RuntimeError, ConnectionError):
                with lock:
                    state["errors"] += 1
                time.sleep(0.2)  # server down (killed/restarting): retry until the deadline
                continue
            try:
                while time.monotonic() < deadline:
                    num = pending or take()
                    if num is None:
                        s.close()
                        return
                    pending = num
                    s.cmd(f"MAIL FROM:<{a.sender}>", 2)
                    s.cmd(f"RCPT TO:<{a.rcpt}>", 2)
                    s.cmd("DATA", 3)
                    s.sock.sendall(body_of(a.size, f"m{num}") + b".\r\n")
                    t0 = time.monotonic()
                    code, full = s.reply()
                    dt = time.monotonic() - t0
                    pending = None
                    m = QUEUED.search(full)
                    with lock:
                        if code == 250:  # any 250 counts (Postfix/smtp-sink ids differ); ids only from relayd's form
                            state["acked"] += 1
                            if ids and m:
                                ids.write(m.group(1).decode().lower() + "\n")
                            if lat:
                                lat.write(f"{dt:.6f}\n")
                        else:
                            state["rejected"] += 1
                s.close()
                return
            except (OSError, RuntimeError, ConnectionError):
                with lock:
                    state["errors"] += 1
                try:
                    s.sock.close()
                except OSError:
                    pass
                time.sleep(0.1)

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(a.k)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + a.timeout + 1)
    wall = time.monotonic() - t0
    print(f"sent={state['next']} acked={state['acked']} rejected={state['rejected']} "
          f"errors={state['errors']} wall={wall:.2f}s")
    if a.stop_file:  # open-ended load: success is "no message was refused"
        return 0 if state["rejected"] == 0 else 1
    return 0 if state["acked"] == a.n else 1


def cmd_idle(a):
    host, port = a.target.rsplit(":", 1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sessions = []
    try:
        for i in range(a.k):
            # Many sessions from one address would hit per-client limits: spread them over 127.0.0.x.
            src = a.source_prefix + str(a.source_base + i % a.sources) if a.sources else None
            s = Session(host, int(port), a.timeout, src)
            s.open(f"idle{i}.client.test")
            sessions.append(s)
    except (OSError, RuntimeError, ConnectionError) as e:
        print(f"opened {len(sessions)} of {a.k} sessions, then: {e}", file=sys.stderr)
        return 1
    print(f"opened {len(sessions)} sessions", flush=True)
    if a.ready:
        open(a.ready, "w").close()
    stop.wait(a.hold)
    alive = 0
    for s in sessions:  # check the server kept every idle session open (NOOP answered)
        try:
            s.cmd("NOOP", 2)
            alive += 1
        except (OSError, RuntimeError, ConnectionError):
            pass
        s.sock.close()
    print(f"alive after hold: {alive}")
    return 0 if alive == a.k else 1


def cmd_big(a):
    host, port = a.target.rsplit(":", 1)
    s = Session(host, int(port), a.timeout)
    s.open("big.client.test")
    s.cmd(f"MAIL FROM:<{a.sender}> SIZE={a.size}", 2)
    s.cmd(f"RCPT TO:<{a.rcpt}>", 2)
    s.cmd("DATA", 3)
    s.sock.sendall(b"Subject: big\r\n\r\n")
    chunk = (b"y" * 76 + b"\r\n") * 840  # ~64 KiB per send, 78-octet lines (legal, no dot-stuffing)
    sent = 0
    while sent < a.size:
        s.sock.sendall(chunk)
        sent += len(chunk)
    s.sock.sendall(b".\r\n")
    code, full = s.reply()
    print(full.decode(errors="replace"))
    s.close()
    return 0 if code == 250 else 1


def cmd_bdat(a):
    host, port = a.target.rsplit(":", 1)
    s = Session(host, int(port), a.timeout)
    ehlo = s.open("bdat.client.test")
    if b"CHUNKING" not in ehlo.upper():
        print("server does not advertise CHUNKING")
        return 1
    s.cmd(f"MAIL FROM:<{a.sender}>", 2)
    s.cmd(f"RCPT TO:<{a.rcpt}>", 2)
    part1 = b"Subject: bdat\r\n\r\nfirst chunk\r\n"
    part2 = b"second chunk, with a line that is only a dot:\r\n.\r\nend\r\n"
    s.sock.sendall(f"BDAT {len(part1)}\r\n".encode() + part1)
    code, full = s.reply()
    if code != 250:
        print(full.decode(errors="replace"))
        return 1
    s.sock.sendall(f"BDAT {len(part2)} LAST\r\n".encode() + part2)
    code, full = s.reply()
    print(full.decode(errors="replace"))
    s.close()
    return 0 if code == 250 and QUEUED.search(full) else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["send", "idle", "big", "bdat"])
    p.add_argument("target", help="HOST:PORT")
    p.add_argument("-n", type=int, default=100, help="messages to send (send)")
    p.add_argument("-k", type=int, default=10, help="parallel sessions (send, idle)")
    p.add_argument("--size", type=int, default=1024, help="message size in bytes")
    p.add_argument("--sender", default="load@client.test")
    p.add_argument("--rcpt", default="user@queue.test")
    p.add_argument("--ids", help="append acknowledged queue ids here")
    p.add_argument("--latency", help="write time-to-250 per message here")
    p.add_argument("--deadline", type=float, default=120, help="give up after this many seconds (send)")
    p.add_argument("--timeout", type=float, default=30, help="socket timeout in seconds")
    p.add_argument("--stop-file", help="send: start no new message once this file exists")
    p.add_argument("--sources", type=int, default=0, help="spread sessions over this many source addresses")
    p.add_argument("--source-prefix", default="127.0.0.")
    p.add_argument("--source-base", type=int, default=100)
    p.add_argument("--ready", help="touch this file once all idle sessions are open")
    p.add_argument("--hold", type=float, default=60, help="seconds to hold idle sessions")
    a = p.parse_args()
    return {"send": cmd_send, "idle": cmd_idle, "big": cmd_big, "bdat": cmd_bdat}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
