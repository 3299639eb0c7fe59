#!/usr/bin/env python3
"""POP3 load client for perf/scripts/pop3-bench.sh (Python 3 stdlib only: asyncio, smtplib, multiprocessing).

Subcommands (every network wait is bounded by --deadline; every loop is bounded by its message/user counts):

  fill  HOST:PORT --users FMT --count-users U --messages N --size BYTES
        SMTP: N messages of ~BYTES, each with U recipients (FMT % i for i in 1..U), so every mailbox gets N.
  retr  HOST:PORT --users FMT --count-users U --password PW [--procs P]
        U concurrent POP3 clients (split over P processes): login (USER/PASS), STAT, RETR every message, QUIT.
        No DELE, so runs can be repeated. Prints one JSON line: wall seconds, messages, octets, client CPU.
  hold  HOST:PORT --users FMT --count-users U --password PW --ready FILE --release FILE [--max-hold S]
        U sessions log in and STAT, then hold their maildrops open; FILE --ready is written when all are in,
        they QUIT when FILE --release appears (or after --max-hold seconds).
  open  HOST:PORT --user ADDR --password PW [--reps R]
        Client-side times (ms) of PASS -> STAT answered and PASS -> full UIDL listing received, R times each
        (a fresh connection each time). Prints one JSON line with all samples and medians.

Timing uses time.monotonic() (CLOCK_MONOTONIC: comparable across the worker processes).
"""
import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import smtplib
import statistics
import sys
import time

TERM = b"\r\n.\r\n"


def addresses(fmt, count):
    """fmt % i for i in 1..count, or just fmt when it has no %d (one fixed address)."""
    return [fmt % i for i in range(1, count + 1)] if "%" in fmt else [fmt]


def hostport(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


class Pop3Error(Exception):
    pass


class Client:
    """A minimal lock-step POP3 client (one command in flight, as ordinary mail clients do)."""

    def __init__(self, reader, writer):
        self.r, self.w = reader, writer

    @classmethod
    async def connect(cls, host, port):
        # limit: readuntil() must be able to hold a whole (1 MiB or larger) message / UIDL listing
        r, w = await asyncio.open_connection(host, port, limit=64 * 1024 * 1024)
        c = cls(r, w)
        greet = await r.readline()
        if not greet.startswith(b"+OK"):
            raise Pop3Error(f"greeting: {greet!r}")
        return c

    async def cmd(self, line):
        self.w.write(line.encode() + b"\r\n")
        reply = await self.r.readline()
        if not reply.startswith(b"+OK"):
            raise Pop3Error(f"{line.split()[0]}: {reply!r}")
        return reply

    async def multiline(self, line):
        """Send a command with a multi-line answer; return the (still dot-stuffed) body without the terminator."""
        await self.cmd(line)
        # The +OK line's CRLF counts as the "\r\n" in front of the terminating ".\r\n" (empty body).
        buf = bytearray(b"\r\n")
        searched = 0
        while True:
            pos = buf.find(TERM, searched)
            if pos >= 0:
                if pos + len(TERM) != len(buf):
                    raise Pop3Error(f"{line}: data after the terminator")
                return bytes(buf[2:pos + 2])  # keep the body's final CRLF, drop ".\r\n"
            searched = max(0, len(buf) - len(TERM) + 1)
            chunk = await self.r.read(256 * 1024)
            if not chunk:
                raise Pop3Error(f"{line}: connection closed in the middle of the answer")
            buf += chunk

    async def login(self, user, password):
        await self.cmd(f"USER {user}")
        await self.cmd(f"PASS {password}")

    async def quit(self):
        try:
            await self.cmd("QUIT")
            await self.r.read()  # wait for the server's close: the maildrop lock is released by then
        finally:
            self.w.close()


def unstuffed_len(data):
    # RFC 1939 §3: a line starting with "." was sent with one more "."
    n = len(data) - data.count(b"\r\n..")
    return n - 1 if data.startswith(b"..") else n


# ---------------------------------------------------------------------------------------------- fill
def fill(a):
    host, port = hostport(a.server)
    rcpts = addresses(a.users, a.count_users)
    line = b"." + b"x" * 71 + b"\r\n"  # dot-leading lines: RETR must stuff them, so the bench covers that path
    plain = b"y" * 72 + b"\r\n"
    deadline = time.monotonic() + a.deadline
    with smtplib.SMTP(host, port, timeout=60) as s:
        s.ehlo("fill.example.test")
        for n in range(a.messages):
            if time.monotonic() > deadline:
                sys.exit(f"fill: deadline reached after {n} messages")
            head = f"From: bench@source.test\r\nSubject: pop3 bench {n}\r\nMessage-ID: <{n}.{time.time()}@bench>\r\n\r\n".encode()
            body = bytearray(head)
            i = 0
            while len(body) < a.size:
                body += line if i % 10 == 0 else plain
                i += 1
            refused = s.sendmail("bench@source.test", rcpts, bytes(body))
            if refused:
                sys.exit(f"fill: refused {refused}")
    print(json.dumps({"messages": a.messages, "recipients": len(rcpts)}))


# ---------------------------------------------------------------------------------------------- retr
async def retr_one(host, port, user, password, start_at, deadline):
    c = await asyncio.wait_for(Client.connect(host, port), deadline)
    # all clients of all processes begin together (after connecting)
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    await c.login(user, password)
    reply = await c.cmd("STAT")
    count, octets = int(reply.split()[1]), int(reply.split()[2])
    got = wire = 0
    for n in range(1, count + 1):
        data = await c.multiline(f"RETR {n}")
        wire += len(data)
        got += unstuffed_len(data)
    await c.quit()
    if got != octets:
        raise Pop3Error(f"{user}: RETR gave {got} octets, STAT said {octets}")
    return count, octets, wire, time.monotonic()


async def retr_group(host, port, users, password, start_at, deadline):
    tasks = [retr_one(host, port, u, password, start_at, deadline) for u in users]
    return await asyncio.wait_for(asyncio.gather(*tasks), deadline)


def retr_worker(args):
    host, port, users, password, start_at, deadline = args
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    res = asyncio.run(retr_group(host, port, users, password, start_at, deadline))
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return res, cpu


def proc_cpu(pid):
    """utime+stime of a process in seconds (from /proc/PID/stat), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def retr(a):
    host, port = hostport(a.server)
    users = addresses(a.users, a.count_users)
    groups = [users[i::a.procs] for i in range(a.procs)]
    start_at = time.monotonic() + 1.0  # time for the workers to start and connect
    srv0 = proc_cpu(a.server_pid) if a.server_pid else None
    with mp.get_context("fork").Pool(a.procs) as pool:
        results = pool.map(retr_worker, [(host, port, g, a.password, start_at, a.deadline) for g in groups])
    srv1 = proc_cpu(a.server_pid) if a.server_pid else None
    per_client = [r for res, _ in results for r in res]
    end = max(r[3] for r in per_client)
    wall = end - start_at
    msgs = sum(r[0] for r in per_client)
    octets = sum(r[1] for r in per_client)
    out = {
        "clients": len(per_client), "procs": a.procs, "wall_s": round(wall, 4), "messages": msgs, "octets": octets,
        "wire_octets": sum(r[2] for r in per_client),
        "msgs_per_s": round(msgs / wall, 1), "mb_per_s": round(octets / wall / 1e6, 2),
        "client_cpu_s": round(sum(cpu for _, cpu in results), 3),
        "server_cpu_s": round(srv1 - srv0, 3) if srv0 is not None and srv1 is not None else None,
    }
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------- hold
async def hold_async(a):
    host, port = hostport(a.server)
    users = addresses(a.users, a.count_users)

    async def one(u):
        c = await Client.connect(host, port)
        await c.login(u, a.password)
        await c.cmd("STAT")
        return c

    clients = await asyncio.wait_for(asyncio.gather(*(one(u) for u in users)), a.deadline)
    with open(a.ready, "w") as f:
        f.write(f"{len(clients)}\n")
    end = time.monotonic() + a.max_hold
    while not os.path.exists(a.release) and time.monotonic() < end:
        await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*(c.quit() for c in clients)), a.deadline)


def hold(a):
    asyncio.run(hold_async(a))


# ---------------------------------------------------------------------------------------------- open
async def open_async(a):
    host, port = hostport(a.server)
    samples = {"pass_ms": [], "stat_ms": [], "uidl_ms": [], "list_ms": []}
    in_use_retries = 0
    count = None

    async def session():
        nonlocal in_use_retries
        for _ in range(100):  # bounded: a lock still held by the previous session is retried for up to ~5 s
            c = await Client.connect(host, port)
            await c.cmd(f"USER {a.user}")
            t0 = time.monotonic()
            try:
                await c.cmd(f"PASS {a.password}")
                return c, t0, time.monotonic()
            except Pop3Error as e:
                if b"[IN-USE]" not in str(e).encode():
                    raise
                in_use_retries += 1
                await c.quit()
                await asyncio.sleep(0.05)
        raise Pop3Error("maildrop stayed locked")

    for _ in range(a.reps):
        c, t0, t1 = await session()
        reply = await c.cmd("STAT")
        t2 = time.monotonic()
        count = int(reply.split()[1])
        await c.quit()
        samples["pass_ms"].append((t1 - t0) * 1000)
        samples["stat_ms"].append((t2 - t0) * 1000)

        c, t0, _ = await session()
        listing = await c.multiline("UIDL")
        t2 = time.monotonic()
        n = listing.count(b"\r\n")
        if n != count:
            raise Pop3Error(f"UIDL listed {n}, STAT said {count}")
        await c.quit()
        samples["uidl_ms"].append((t2 - t0) * 1000)

        c, t0, _ = await session()
        listing = await c.multiline("LIST")
        t2 = time.monotonic()
        if listing.count(b"\r\n") != count:
            raise Pop3Error("LIST count differs from STAT")
        await c.quit()
        samples["list_ms"].append((t2 - t0) * 1000)

    out = {"messages": count, "reps": a.reps, "in_use_retries": in_use_retries}
    for k, v in samples.items():
        out[k.replace("_ms", "_median_ms")] = round(statistics.median(v), 2)
        out[k] = [round(x, 2) for x in v]
    print(json.dumps(out))


def open_(a):
    asyncio.run(asyncio.wait_for(open_async(a), a.deadline))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("fill", "retr", "hold", "open"):
        s = sub.add_parser(name)
        s.add_argument("server", help="HOST:PORT")
        s.add_argument("--deadline", type=float, default=300, help="seconds for the whole command")
        if name == "open":
            s.add_argument("--user", required=True)
            s.add_argument("--reps", type=int, default=7)
        else:
            s.add_argument("--users", required=True, help="address format with %%d, e.g. 's%%d@example.test'")
            s.add_argument("--count-users", type=int, default=50)
        if name != "fill":
            s.add_argument("--password", required=True)
    sub.choices["fill"].add_argument("--messages", type=int, required=True)
    sub.choices["fill"].add_argument("--size", type=int, default=1024)
    sub.choices["retr"].add_argument("--procs", type=int, default=2)
    sub.choices["retr"].add_argument("--server-pid", type=int)
    sub.choices["hold"].add_argument("--ready", required=True)
    sub.choices["hold"].add_argument("--release", required=True)
    sub.choices["hold"].add_argument("--max-hold", type=float, default=120)
    a = p.parse_args()
    {"fill": fill, "retr": retr, "hold": hold, "open": open_}[a.cmd](a)


if __name__ == "__main__":
    main()
