#!/usr/bin/python3
"""Runs a command under the seccomp part of systemd/relayd.service, as systemd would apply it, for hosts without
systemd as PID 1 (containers, CI). Needs python3-seccomp (Debian: apt-get install python3-seccomp).

  unit-sandbox.py COMMAND ARGS...

Emulated from the unit: SystemCallFilter=@system-service + ~@privileged @resources (SystemCallErrorNumber=EPERM),
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX (EAFNOSUPPORT otherwise), MemoryDenyWriteExecute=yes (mmap W+X,
mprotect/pkey_mprotect +X and shmat SHM_EXEC refused) and NoNewPrivileges=yes. The groups are expanded with the
installed `systemd-analyze syscall-filter`, so the lists are the ones this systemd version would use."""
import errno, os, socket, subprocess, sys
import seccomp


def expand(group, seen=None):
    seen = set() if seen is None else seen
    if group in seen:
        return set()
    seen.add(group)
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        calls |= expand(line, seen) if line.startswith("@") else {line}
    return calls


allowed = expand("@system-service") - expand("@privileged") - expand("@resources")

# 1. SystemCallFilter: everything else fails with EPERM.
calls = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
for name in sorted(allowed):
    try:
        calls.add_rule(seccomp.ALLOW, name)
    except (RuntimeError, ValueError, OSError):
        pass  # a name this kernel/libseccomp does not know (as systemd skips it too)

# 2. RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX.
families = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
keep = {socket.AF_UNIX, socket.AF_INET, socket.AF_INET6}
for family in range(0, max(keep)):
    if family not in keep:
        families.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, family))
families.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.GT, max(keep)))
families.load()

# 3. MemoryDenyWriteExecute=yes, as systemd's seccomp_memory_deny_write_execute() builds it.
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
wx = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
wx.add_rule(seccomp.ERRNO(errno.EPERM), "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC))
wx.add_rule(seccomp.ERRNO(errno.EPERM), "mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
wx.add_rule(seccomp.ERRNO(errno.EPERM), "pkey_mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
wx.add_rule(seccomp.ERRNO(errno.EPERM), "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC))
wx.load()

# The allow list last: it refuses seccomp(2) itself. Loading also sets no_new_privs (NoNewPrivileges=yes).
calls.load()
os.execv(sys.argv[1], sys.argv[1:])
