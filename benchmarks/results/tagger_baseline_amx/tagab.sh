#!/bin/bash
# One-off: HEAD float32, HEAD bfloat16, aaeb36e float32 in fresh processes, alternated.
for r in 1 2 3; do
  (cd /work/main && PYTHONPATH=/work/main python /work/exp/s28/tagbase.py float32 2>/dev/null | tail -1)
  (cd /work/main && PYTHONPATH=/work/main python /work/exp/s28/tagbase.py bfloat16 2>/dev/null | tail -1)
  (cd /tmp/aaeb && PYTHONPATH=/tmp/aaeb python /work/exp/s28/tagbase.py float32 2>/dev/null | tail -1)
done
