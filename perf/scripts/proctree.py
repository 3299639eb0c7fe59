#!/usr/bin/env python3
"""Resource figures for a process and all its descendants, read from /proc (helper of relay-bench.sh).

  proctree.py stat ROOTPID        -> "cpu_seconds write_bytes nprocs"
      cpu: utime+stime of the root and every live descendant, plus the root's cutime+cstime (the children it
      already reaped: Postfix's master reaps its daemons, so their CPU is not lost when they exit).
      write_bytes: /proc/PID/io write_bytes - cancelled_write_bytes, same summation (the kernel adds a reaped
      child's I/O counters to its parent's).
  proctree.py sample ROOTPID OUTFILE SECONDS INTERVAL
      until SECONDS pass or ROOTPID is gone: every INTERVAL sums VmRSS and Pss over the tree and keeps the
      peaks; rewrites OUTFILE with "peak_rss_kb peak_pss_kb" after every sample.
"""
import os
import sys
import time

CLK = os.sysconf("SC_CLK_TCK")


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def tree(root):
    kids = children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()  # fields from #3 (state) on


def io_written(pid):
    vals = {}
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                k, v = line.split(":")
                vals[k] = int(v)
    except OSError:
        return 0
    return vals.get("write_bytes", 0) - vals.get("cancelled_write_bytes", 0)


def stat(root):
    ticks, written, n = 0, 0, 0
    for pid in tree(root):
        try:
            f = stat_fields(pid)
        except OSError:
            continue
        # stat fields 14..17 = utime stime cutime cstime; f[0] is field 3
        ticks += int(f[11]) + int(f[12])
        if pid == root:
            ticks += int(f[13]) + int(f[14])
        written += io_written(pid)
        n += 1
    print(f"{ticks / CLK:.2f} {written} {n}")


def mem(pid):
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def sample(root, outfile, seconds, interval):
    end = time.monotonic() + seconds
    peak_rss = peak_pss = 0
    while time.monotonic() < end and os.path.exists(f"/proc/{root}"):
        rss = pss = 0
        for pid in tree(root):
            r, p = mem(pid)
            rss += r
            pss += p
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        with open(outfile + ".tmp", "w") as f:
            f.write(f"{peak_rss} {peak_pss}\n")
        os.replace(outfile + ".tmp", outfile)
        time.sleep(interval)


if __name__ == "__main__":
    if sys.argv[1] == "stat":
        stat(int(sys.argv[2]))
    elif sys.argv[1] == "sample":
        sample(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(__doc__)
