# One-off: distinct oneDNN primitive shapes of a passes.py run under ONEDNN_VERBOSE=1 (test pass, then dev).
import sys
lines = open(sys.argv[1]).read().splitlines()
split = [i for i, l in enumerate(lines) if "sent/s" in l][0]
def shapes(ls):
    return {(l.split(",")[5], l.split(",")[-2]) for l in ls if "primitive,exec" in l}
a, b = shapes(lines[:split]), shapes(lines[split:])
print("test distinct", len(a), "dev distinct", len(b), "new in dev", len(b - a))
