import cProfile, pstats, sys, time
from nlp_lstm.export import runtime, layout
runtime.choose_kernels(sys.argv[1])
tf = runtime.import_tensorflow()
path = layout.resolve(sys.argv[1])
pr = cProfile.Profile(); pr.enable()
t=time.perf_counter(); runtime.load_text_ops(path); t1=time.perf_counter()
loaded = runtime.load_saved_model(path); t2=time.perf_counter()
pr.disable()
print(f"text ops {t1-t:.3f} load {t2-t1:.3f}")
pstats.Stats(pr).sort_stats("cumulative").print_stats(25)
