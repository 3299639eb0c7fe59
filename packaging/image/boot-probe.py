#!/usr/bin/env python3
"""Probe for boot-test.sh: over the VM's forwarded ports, SMTP with STARTTLS (firstboot certificate) to
alice@example.com (added by user-data.example's runcmd), then POP3 STLS RETR; the body must match."""
import poplib, smtplib, ssl, sys, time, socket
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
deadline = time.monotonic() + 400
while True:
    try:
        s = smtplib.SMTP("127.0.0.1", 2525, timeout=20); code, banner = s.ehlo("probe.test")
        if code == 250 and s.has_extn("starttls"):
            break
        s.quit()
    except (OSError, smtplib.SMTPException) as e:
        pass
    if time.monotonic() > deadline: sys.exit("no SMTP with STARTTLS from the VM")
    time.sleep(5)
print("EHLO:", banner.decode().splitlines()[0], "| STARTTLS offered")
s.quit()
msg = b"From: p@example.org\r\nTo: alice@example.com\r\nSubject: image probe\r\n\r\nhello from the host\r\n.dot line\r\n"
for _ in range(60):   # cloud-init's runcmd adds alice and restarts relayd late in the boot
    try:
        s = smtplib.SMTP("127.0.0.1", 2525, timeout=20); s.ehlo("probe.test")
        s.starttls(context=ctx); s.ehlo("probe.test")
        s.sendmail("p@example.org", ["alice@example.com"], msg); s.quit(); break
    except (OSError, smtplib.SMTPException) as e:
        print("retry:", type(e).__name__, e); time.sleep(5)
else:
    sys.exit("alice@example.com never accepted")
print("sent to alice@example.com over STARTTLS")
for _ in range(60):   # relayd may be restarting (runcmd's systemctl restart)
    try:
        p = poplib.POP3("127.0.0.1", 1110, timeout=20); p.stls(context=ctx)
        p.user("alice@example.com"); p.pass_("change-me-alice")
        n, _ = p.stat()
        if n: break
        p.quit()
    except (OSError, poplib.error_proto) as e:
        print("pop retry:", e)
    time.sleep(3)
_, lines, _ = p.retr(n); p.quit()
body = b"\r\n".join(lines).split(b"\r\n\r\n", 1)[1]
print("POP3 STLS RETR body:", body)
assert body.rstrip(b"\r\n") == b"hello from the host\r\n.dot line", body
print("image probe ok")
