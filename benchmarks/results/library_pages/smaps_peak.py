"""Run a command; poll /proc/PID/smaps; print the breakdown at the sample of highest Rss."""
import collections, subprocess, sys, time, os

def sample(pid):
    groups = collections.Counter(); anon = 0; total = 0
    try:
        with open(f"/proc/{pid}/smaps") as f:
            name = None
            for line in f:
                parts = line.split()
                if not parts: continue
                if not parts[0].endswith(":") or len(parts[0]) > 20 and "-" in parts[0]:
                    name = parts[5] if len(parts) > 5 else "[anon]"
                    continue
                if parts[0] == "Rss:":
                    kb = int(parts[1]); total += kb
                    groups[name] += kb
                elif parts[0] == "Anonymous:":
                    anon += int(parts[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return total, anon, groups

proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
best = None
while proc.poll() is None:
    s = sample(proc.pid)
    if s and (best is None or s[0] > best[0]):
        best = s
    time.sleep(0.05)
total, anon, groups = best
print(f"peak sampled Rss {total/1024:.0f} MB; Anonymous {anon/1024:.0f} MB; file-backed {(total-anon)/1024:.0f} MB")
for name, kb in groups.most_common(14):
    print(f"  {kb/1024:8.1f} MB  {name}")
print("rc", proc.returncode, proc.stderr.read()[-300:])
