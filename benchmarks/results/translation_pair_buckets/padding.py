# One-off: padding of Multi30k training batches (64 pairs, the repository tokenizer) under
# bucketing schemes, simulated in NumPy over two shuffled passes, and the lengths of a stream's
# first batches; output in padding.txt. Run from the repository root.
import gzip, random, numpy as np, sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file="tokenizers/multi30k_en_de.model")
src = [l.decode().strip() for l in gzip.open("../shared/data/multi30k/train.en.gz")]
tgt = [l.decode().strip() for l in gzip.open("../shared/data/multi30k/train.de.gz")]
S = np.array([len(x)+1 for x in sp.encode(src)]); T = np.array([len(x)+1 for x in sp.encode(tgt)])  # +EOS / +BOS..-1
keep = (S < 64) & (T < 64); S, T = S[keep], T[keep]
rng = np.random.default_rng(0)
def stats(batches):
    rs = sum(S[b].sum() for b in batches); ps = sum(len(b)*S[b].max() for b in batches)
    rt = sum(T[b].sum() for b in batches); pt = sum(len(b)*T[b].max() for b in batches)
    return f"src pad {1-rs/ps:.3f} tgt pad {1-rt/pt:.3f} both {1-(rs+rt)/(ps+pt):.3f} batches {len(batches)}"
def bucket(keyf, B=64, epochs=2):
    order = np.concatenate([rng.permutation(len(S)) for _ in range(epochs)])
    buckets = {}; out = []
    for i in order:
        k = keyf(i); buckets.setdefault(k, []).append(i)
        if len(buckets[k]) == B: out.append(buckets.pop(k))
    return out
def pool(sortkey, P=1024, B=64, epochs=2):
    order = np.concatenate([rng.permutation(len(S)) for _ in range(epochs)])
    out=[]
    for p in range(0, len(order)-P+1, P):
        chunk = sorted(order[p:p+P], key=sortkey)
        out += [chunk[j:j+B] for j in range(0, P, B)]
    return out
M = np.maximum(S, T)
print("max w4   ", stats(bucket(lambda i: (M[i]-1)//4)))
print("max w2   ", stats(bucket(lambda i: (M[i]-1)//2)))
print("max w1   ", stats(bucket(lambda i: M[i])))
print("2d w2    ", stats(bucket(lambda i: ((S[i]-1)//2, (T[i]-1)//2))))
print("2d w1    ", stats(bucket(lambda i: (S[i], T[i]))))
for P in (1024, 4096):
    print(f"pool{P} s,t", stats(pool(lambda i: (S[i], T[i]), P)))
    print(f"pool{P} t,s", stats(pool(lambda i: (T[i], S[i]), P)))
    print(f"pool{P} max,s", stats(pool(lambda i: (M[i], S[i]), P)))
    print(f"pool{P} s+t", stats(pool(lambda i: (S[i]+T[i], S[i]), P)))
print("2d w4    ", stats(bucket(lambda i: (S[i]//4, T[i]//4))))
print("2d w3    ", stats(bucket(lambda i: (S[i]//3, T[i]//3))))
print("2d w2    ", stats(bucket(lambda i: (S[i]//2, T[i]//2))))
# bias of first 30 batches in a stream of the 2560 subset (repeat), 2d w2, vs mean
sub = np.arange(2560)
def stream_first(keyf, n=30, B=64):
    buckets={}; out=[]
    while len(out)<n:
        for i in rng.permutation(sub):
            k=keyf(i); buckets.setdefault(k,[]).append(i)
            if len(buckets[k])==B: out.append(buckets.pop(k))
            if len(out)==n: break
    return out
mean_pair=(S[sub]+T[sub]).mean()
for name,kf in [("1d w4",lambda i:(M[i]-1)//4),("2d w2",lambda i:(S[i]//2,T[i]//2)),("2d w4",lambda i:(S[i]//4,T[i]//4))]:
    b=stream_first(kf)
    print(name, "first 30 batches: mean pair tokens", round(np.mean([ (S[x]+T[x]).mean() for x in b]),2), "subset mean", round(mean_pair,2), stats(b))
def stream_after(keyf, skip, n=30, B=64):
    buckets={}; out=[]
    while len(out)<skip+n:
        for i in rng.permutation(sub):
            k=keyf(i); buckets.setdefault(k,[]).append(i)
            if len(buckets[k])==B: out.append(buckets.pop(k))
            if len(out)==skip+n: break
    return out[skip:]
for skip in (40, 120, 400):
  for name,kf in [("2d w2",lambda i:(S[i]//2,T[i]//2)),("2d w4",lambda i:(S[i]//4,T[i]//4))]:
    ms=[]
    for rep in range(5):
        b=stream_after(kf, skip); ms.append(np.mean([(S[x]+T[x]).mean() for x in b]))
    print(name, "skip", skip, "mean pair tokens of 30 batches over 5 draws", np.round(ms,2))
