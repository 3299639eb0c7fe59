#!/usr/bin/env bash
# Local mailboxes over POP3: mail sent over SMTP to a local user is read back with curl (pop3://) and Python's
# poplib, byte for byte; DELE + QUIT removes durably; UIDs survive a restart; a second login is refused [IN-USE];
# an unknown local recipient is refused at RCPT.
source "$(dirname "$0")/lib.sh"
D=$T/pop
POP=1110
printf 'pw-alice\n' | relayd_cmd "$D" user add alice@example.test --Users:Pbkdf2Iterations=1000 >/dev/null
start_relayd pop "$D" 2525 --Pop3:Listen:0="$IP:$POP" || { fail "relayd starts"; finish; }
wait_banner_pop() { local end=$((SECONDS + 20)); while [ $SECONDS -lt $end ]; do
    { exec 8<>"/dev/tcp/$IP/$POP"; } 2>/dev/null && { read -r -t 5 line <&8; exec 8>&-; [[ $line == +OK* ]] && return 0; }
    sleep 0.2; done; return 1; }
check "the POP3 listener greets with +OK" wait_banner_pop

out=$(swaks_to 2525 --from bob@sender.test --to nobody@example.test 2>&1)
check "RCPT to an unknown local user is refused with 550 5.1.1" grep -q '<\*\* *550 5.1.1' <<<"$out"

# Three messages; the second has lines that start with a dot (stuffed on the wire both ways) and 8-bit text.
$PY - "$IP" 2525 <<'PYEOF'
import smtplib, sys
bodies = [b"Subject: one\r\n\r\nfirst\r\n",
          b"Subject: two\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nafter a lone dot\r\ncaf\xc3\xa9\r\n",
          b"Subject: three\r\n\r\nthird\r\n"]
with smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=20) as s:
    for b in bodies:
        s.sendmail("bob@sender.test", ["alice@example.test"], b, mail_options=["BODY=8BITMIME"])
PYEOF
drained() { [ "$(json_field "$(relayd_cmd "$D" queue stats --json)" messages)" = 0 ]; }
for _ in $(seq 1 50); do drained && break; sleep 0.2; done
check "local delivery empties the queue" drained

URL="pop3://$IP:$POP"
CURL=(curl -s --max-time 20 -u alice@example.test:pw-alice)
list=$("${CURL[@]}" "$URL/")
check "curl LIST shows 3 messages" test "$(grep -c . <<<"$list")" = 3
"${CURL[@]}" "$URL/2" >"$T/msg2"
check "curl RETR 2 returns the dot lines and 8-bit text un-stuffed" $PY -c '
import sys; d = open(sys.argv[1], "rb").read()
assert b"\r\n.leading dot\r\n..two dots\r\n.\r\nafter a lone dot\r\ncaf\xc3\xa9\r\n" in d, d
assert d.startswith(b"Return-Path: <bob@sender.test>\r\nDelivered-To: alice@example.test\r\n"), d[:80]' "$T/msg2"
size2=$(awk '$1 == 2 { print $2 }' <<<"$list" | tr -d '\r')
check "LIST's size of message 2 is exactly what RETR gave ($size2)" test "$size2" = "$(stat -c %s "$T/msg2")"
check "curl DELE 1 succeeds" "${CURL[@]}" -X DELE -I "$URL/1"

check "poplib: 2 messages left after DELE, a second login gets [IN-USE], DELE+RSET keeps the message" \
    $PY - "$IP" "$POP" "$T/uidl" <<'PYEOF'
import poplib, sys
host, port, uidl_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
p = poplib.POP3(host, port, timeout=20)
p.user("alice@example.test"); p.pass_("pw-alice")
assert p.stat()[0] == 2, p.stat()
second = poplib.POP3(host, port, timeout=20)
second.user("alice@example.test")
try:
    second.pass_("pw-alice"); raise SystemExit("second login was not refused")
except poplib.error_proto as e:
    assert b"[IN-USE]" in e.args[0], e
second.quit()
p.dele(1); p.rset()
uidl = [l.split()[1] for l in p.uidl()[1]]
open(uidl_file, "w").write(" ".join(x.decode() for x in uidl))
p.quit()
p = poplib.POP3(host, port, timeout=20)
p.user("alice@example.test"); p.pass_("pw-alice")
assert p.stat()[0] == 2, "RSET must keep the message"
p.quit()
PYEOF
stop_pid "$RELAYD_PID" 20
start_relayd pop "$D" 2525 --Pop3:Listen:0="$IP:$POP" || { fail "relayd restarts"; finish; }
check "after a restart UIDL is unchanged" $PY - "$IP" "$POP" "$T/uidl" <<'PYEOF'
import poplib, sys
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=20)
p.user("alice@example.test"); p.pass_("pw-alice")
now = " ".join(l.split()[1].decode() for l in p.uidl()[1])
assert now == open(sys.argv[3]).read(), (now, open(sys.argv[3]).read())
p.quit()
PYEOF
check "wrong password is refused" bash -c "! curl -s --max-time 20 -u alice@example.test:wrong '$URL/' >/dev/null"
finish
