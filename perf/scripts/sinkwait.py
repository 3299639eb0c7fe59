#!/usr/bin/env python3
"""When did smtp-sink count the last message? (helper of compare.sh, relay-bound.sh and relay-bench.sh)

  sinkwait.py FILE COUNT SECONDS
      FILE is smtp-sink -c's standard output (running counters "\\rsess=S quit=Q mesg=M", rewritten at every end of
      DATA, QUIT and session end). Prints the time it first saw mesg >= COUNT, in seconds since the epoch like
      `date +%s.%N`, and exits 0; exits 1 after SECONDS without printing.

Start it before the load: it then reads only what smtp-sink appends, every 5 ms, so the time is at most ~5 ms late and
the polling costs a few system calls per poll. The shell loop it replaces ran five processes per poll and polled every
0.1 s once the generator was done: up to 0.1 s late on end-to-end runs of about 2 s, while competing for the CPU with
the sink, which is what the end of such a run waits for (perf/RESULTS.md item 29).
"""
import re
import sys
import time

COUNTER = re.compile(rb"mesg=(\d+)")


def main():
    path, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    deadline = time.monotonic() + seconds
    tail = b""
    with open(path, "rb") as f:
        while time.monotonic() < deadline:
            data = f.read()
            if data:
                # Keep the end of the last read: a counter may be split across two reads.
                counters = COUNTER.findall(tail + data)
                tail = data[-64:]
                if counters and int(counters[-1]) >= count:
                    print(f"{time.time():.6f}")
                    return 0
            else:
                time.sleep(0.005)
    return 1


if __name__ == "__main__":
    sys.exit(main())
