#!/usr/bin/env bash
# SMTP behaviour seen from real clients (swaks, plus smtpclient.py for BDAT, which swaks lacks).
source "$(dirname "$0")/lib.sh"

# --- plain transaction to a local domain queues exactly one message --------------------------------
D1=$T/plain
start_relayd plain "$D1" 2525 || { fail "relayd starts"; finish; }
out=$(swaks_to 2525 --from alice@sender.test --to bob@queue.test 2>&1)
if grep -qE '<- +250 2\.0\.0 Ok: queued as [0-9a-f]{16}' <<<"$out"; then pass "swaks plain transaction gets 250 queued as ID"
else fail "swaks plain transaction gets 250 queued as ID"; info "$(tail -5 <<<"$out")"; fi
stats=$(relayd_cmd "$D1" queue stats --json)
check "queue stats --json reports messages==1 ($stats)" test "$(json_field "$stats" messages)" = 1
list=$(relayd_cmd "$D1" queue list --json)
check "queue list --json shows sender and the (relay domain) recipient" $PY -c '
import json, sys
lines = sys.argv[1].splitlines()
m = json.loads(lines[0])
assert len(lines) == 1, lines
assert m["sender"] == "alice@sender.test", m
assert [r["address"] for r in m["recipients"]] == ["bob@queue.test"], m
assert m["recipients"][0]["route"] == "remote", m' "$list"

# --- pipelined transaction (swaks --pipeline; relayd must advertise PIPELINING) ----------------------
out=$(swaks_to 2525 --pipeline --from alice@sender.test --to carol@queue.test 2>&1)
if grep -q 'PIPELINING' <<<"$out" && grep -qE '250 2\.0\.0 Ok: queued as [0-9a-f]{16}' <<<"$out"; then
    pass "swaks --pipeline transaction is queued"
else fail "swaks --pipeline transaction is queued"; info "$(tail -8 <<<"$out")"; fi

# --- BDAT: swaks (20201014) has no CHUNKING support, so smtpclient.py sends two BDAT chunks ----------
if swaks --help 2>&1 | grep -qi -- '--bdat'; then info "(swaks supports BDAT, but the python client is used for a fixed chunk layout)"; fi
out=$($CLIENT bdat "$IP:2525" --rcpt dave@queue.test --timeout 10 2>&1)
if [ $? -eq 0 ]; then pass "BDAT (2 chunks, LAST) is queued"; else fail "BDAT (2 chunks, LAST) is queued"; info "$out"; fi
check "queue stats counts 3 messages after plain + pipelined + BDAT" \
    test "$(json_field "$(relayd_cmd "$D1" queue stats --json)" messages)" = 3

# --- relaying from an untrusted client is refused ---------------------------------------------------
D2=$T/untrusted
start_relayd untrusted "$D2" 2526 --Relay:TrustedNetworks:0=10.255.255.0/24 || { fail "relayd starts (untrusted)"; finish; }
out=$(swaks_to 2526 --from alice@sender.test --to victim@remote.test 2>&1)
if grep -qE '<\*\* +554 5\.7\.1' <<<"$out"; then pass "untrusted client relaying to a remote domain gets 554 5.7.1"
else fail "untrusted client relaying to a remote domain gets 554 5.7.1"; info "$(tail -5 <<<"$out")"; fi
check "nothing was queued by the refused relay attempt" \
    test "$(json_field "$(relayd_cmd "$D2" queue stats --json)" messages)" = 0

# --- STARTTLS + AUTH PLAIN lets the same untrusted client relay --------------------------------------
D3=$T/auth
mkdir -p "$D3"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.example.test \
    -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1
printf 's3cret-pw\n' | relayd_cmd "$D3" user add carol@example.test --Users:Pbkdf2Iterations=1000 >/dev/null
rc=$?; check "relayd user add reads the password from stdin" test $rc -eq 0
start_relayd auth "$D3" 2527 --Relay:TrustedNetworks:0=10.255.255.0/24 \
    --Tls:CertificateFile="$T/cert.pem" --Tls:KeyFile="$T/key.pem" || { fail "relayd starts (TLS)"; finish; }
out=$(swaks_to 2527 --tls --auth PLAIN --auth-user carol@example.test --auth-password s3cret-pw \
    --from carol@example.test --to erin@remote.test 2>&1)
if grep -q 'TLS started' <<<"$out" && grep -qE '235 ' <<<"$out" && grep -qE '250 2\.0\.0 Ok: queued as' <<<"$out"; then
    pass "STARTTLS + AUTH PLAIN relays to a remote domain"
else fail "STARTTLS + AUTH PLAIN relays to a remote domain"; info "$(grep -E '^(<-|<\*\*|\*\*\*)' <<<"$out" | tail -6)"; fi
out=$(swaks_to 2527 --tls --auth PLAIN --auth-user carol@example.test --auth-password wrong \
    --from carol@example.test --to erin@remote.test 2>&1)
if grep -qE '<[~*]\* +535' <<<"$out"; then pass "AUTH with a wrong password gets 535"
else fail "AUTH with a wrong password gets 535"; info "$(tail -3 <<<"$out")"; fi
list=$(relayd_cmd "$D3" queue list --json)
check "the authenticated message is queued with a remote route" $PY -c '
import json, sys
ms = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(ms) == 1, ms
r = ms[0]["recipients"][0]
assert r["address"] == "erin@remote.test" and r["route"] == "remote", ms' "$list"

finish
