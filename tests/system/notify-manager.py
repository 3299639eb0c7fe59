#!/usr/bin/env python3
"""Plays systemd's side of Type=notify for t-systemd.sh: binds NOTIFY_SOCKET, starts relayd with WATCHDOG_USEC and
JOURNAL_STREAM (stderr is a file; its dev:ino stand in for the journal stream) and checks READY/WATCHDOG/RELOADING/
STOPPING against what the listeners do. Prints PASS/FAIL lines; never resolves a name (smtplib gets local_hostname)."""
import json, os, re, signal, smtplib, socket, subprocess, sys, time

relayd, tdir, ip, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pop3_port = port + 10000
data, config, err_path = os.path.join(tdir, "data"), os.path.join(tdir, "relayd.json"), os.path.join(tdir, "relayd.err")
failures = 0


def check(name, ok, detail=""):
    global failures
    print(("PASS: " if ok else "FAIL: ") + name + ("" if ok or not detail else f" ({detail})"), flush=True)
    failures += 0 if ok else 1
    return ok


def write_config(local_domains):
    # Loopback is not a trusted network here: a domain is accepted only if it is local.
    with open(config + ".tmp", "w") as f:
        json.dump({"Relay": {"LocalDomains": local_domains, "TrustedNetworks": ["192.0.2.0/24"]}}, f)
    os.replace(config + ".tmp", config)


manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify_path = os.path.join(tdir, "notify")
manager.bind(notify_path)
received = []  # every datagram, in order


def next_state(want, timeout):
    """Datagrams until one whose first line is `want` (WATCHDOG pings are recorded and skipped); None on timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        manager.settimeout(max(0.01, end - time.monotonic()))
        try:
            msg = manager.recv(4096).decode()
        except socket.timeout:
            return None
        received.append((time.monotonic(), msg))
        if msg.split("\n")[0] == want:
            return msg
    return None


def smtp():
    return smtplib.SMTP(ip, port, local_hostname="client.test", timeout=10)


write_config(["example.test"])
err = open(err_path, "w")
st = os.fstat(err.fileno())
env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="2000000", JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
proc = subprocess.Popen([relayd, "run", "--config", config, f"--Relay:DataDirectory={data}", f"--Smtp:Listen:0={ip}:{port}",
                         f"--Pop3:Listen:0={ip}:{pop3_port}", "--Relay:Hostname=mx.example.test", "--Delivery:Enabled=false",
                         "--Dns:Servers:0=127.0.0.1:53", "--Log:Level=Information"],
                        env=env, stdout=subprocess.DEVNULL, stderr=err)
with open(os.path.join(tdir, "pids"), "a") as f:
    f.write(f"{proc.pid}\n")

try:
    # --- READY=1 only once both listeners answer -------------------------------------------------------------
    ready = next_state("READY=1", 30)
    if not check("READY=1 arrives", ready is not None):
        sys.exit(1)
    ready_at = time.monotonic()
    with socket.create_connection((ip, port), timeout=5) as s:
        banner = s.recv(512)
    check("SMTP banner answers as soon as READY=1 is sent", banner.startswith(b"220 mx.example.test"), banner)
    with socket.create_connection((ip, pop3_port), timeout=5) as s:
        banner = s.recv(512)
    check("POP3 banner answers as soon as READY=1 is sent", banner.startswith(b"+OK"), banner)
    check("READY=1 carries MAINPID and STATUS", f"MAINPID={proc.pid}" in ready.split("\n") and "\nSTATUS=Serving SMTP" in ready, ready)

    # --- watchdog: WATCHDOG_USEC=2 s -> a ping every second ------------------------------------------------
    next_state("never", max(0.0, ready_at + 3.2 - time.monotonic()))
    pings = [t for t, m in received if m == "WATCHDOG=1" and t <= ready_at + 3.2]
    check(f"at least 2 WATCHDOG=1 within 3 s of READY=1 (got {len(pings)})", len(pings) >= 2)

    # --- reload adds a local domain; the open session keeps working, a new one sees the domain ------------
    open_session = smtp()
    open_session.ehlo("client.test")
    open_session.mail("alice@sender.test")
    code, _ = open_session.rcpt("postmaster@new.test")
    check(f"before the reload new.test is refused ({code})", code == 554)

    write_config(["example.test", "new.test"])
    os.kill(proc.pid, signal.SIGHUP)
    reloading = next_state("RELOADING=1", 10)
    check("SIGHUP: RELOADING=1 with MONOTONIC_USEC", reloading is not None and re.search(r"\nMONOTONIC_USEC=\d+", reloading) is not None, reloading)
    check("SIGHUP: READY=1 after RELOADING=1", next_state("READY=1", 10) is not None)

    code, _ = open_session.rcpt("postmaster@example.test")
    check(f"the session opened before the reload still works ({code})", code == 250)
    code, reply = open_session.data(b"Subject: across a reload\r\n\r\nhello\r\n")
    check(f"and its message is queued ({code})", code == 250, reply)
    open_session.quit()
    fresh = smtp()
    fresh.ehlo("client.test")
    fresh.mail("alice@sender.test")
    code, _ = fresh.rcpt("postmaster@new.test")
    check(f"a new session accepts RCPT to the new local domain ({code})", code == 250)
    fresh.quit()

    # --- a broken configuration is refused; relayd keeps running on the last good one ---------------------
    with open(config, "w") as f:
        f.write('{ "Relay": { "LocalDomains": [ "not a domain" ] } }')
    os.kill(proc.pid, signal.SIGHUP)
    next_state("RELOADING=1", 10)
    check("broken config: READY=1 again", next_state("READY=1", 10) is not None)
    check("broken config: relayd still running", proc.poll() is None)
    later = smtp()
    later.ehlo("client.test")
    later.mail("alice@sender.test")
    code_new, _ = later.rcpt("postmaster@new.test")
    code_other, _ = later.rcpt("postmaster@other.test")
    check(f"broken config: the previous configuration stays in force ({code_new}, {code_other})", code_new == 250 and code_other == 554)
    later.quit()

    # --- SIGTERM: STOPPING=1, then exit 0 --------------------------------------------------------------------
    time.sleep(1.5)  # let local delivery of the message above finish and log
    os.kill(proc.pid, signal.SIGTERM)
    check("SIGTERM: STOPPING=1", next_state("STOPPING=1", 10) is not None)
    try:
        rc = proc.wait(30)
    except subprocess.TimeoutExpired:
        rc = "timeout"
    check(f"SIGTERM: exit status 0 ({rc})", rc == 0)

    # --- journal format on stderr ----------------------------------------------------------------------------
    err.close()
    lines = [l for l in open(err_path).read().splitlines() if l]
    check("journal format: every line starts with a <N> priority", lines and all(re.match(r"<[0-7]>", l) for l in lines),
          next((l for l in lines if not re.match(r"<[0-7]>", l)), "no lines"))
    check("journal format: no timestamps (journald adds them)", not any(re.match(r"<\d>\d{4}-\d\d-\d\d", l) for l in lines))
    check("journal format: reload refusal at <3> naming the key",
          any(l.startswith("<3>") and "Relay:LocalDomains:0" in l for l in lines))
    check("log: accept line, queue id first (<id>: from=<..>, size=.., nrcpt=..)",
          any(re.search(r"\] [0-9a-f]{16}: from=<alice@sender.test>, size=\d+, nrcpt=1", l) for l in lines))
    check("log: delivery line (<id>: to=<..>, relay=local, delay=.., status=sent)",
          any(re.search(r"^<6>.*\] [0-9a-f]{16}: to=<postmaster@example.test>, relay=local, delay=[\d.]+, status=sent \(250 ", l) for l in lines))
    check("log: <id>: removed", any(re.search(r"\] [0-9a-f]{16}: removed$", l) for l in lines))
    for l in lines[:40]:
        print("      | " + l)
finally:
    if proc.poll() is None:
        proc.kill()
sys.exit(1 if failures else 0)
