import sys, time, types, importlib.util, gzip, json, resource
t0 = time.perf_counter()
mode, model, beam = sys.argv[1], sys.argv[2], int(sys.argv[3])
from nlp_lstm.export import runtime
runtime.choose_kernels(model)
if mode == "stub":
    spec = importlib.util.find_spec("tensorflow")
    stub = types.ModuleType("tensorflow")
    stub.__path__ = list(spec.submodule_search_locations); stub.__spec__ = spec
    sys.modules["tensorflow"] = stub
    from tensorflow.python.saved_model import load as sm_load, load_options
    from tensorflow.python.framework import constant_op, dtypes, load_library
    from tensorflow.python.eager import context
    from tensorflow.python.compat import v2_compat; v2_compat.enable_v2_behavior()
    context.context().intra_op_parallelism_threads = 1
    context.context().inter_op_parallelism_threads = 2
    import nlp_lstm.utils.imports
    # patch the pieces runtime uses
    class TF: pass
    tf = TF(); tf.load_op_library = load_library.load_op_library
    tf.saved_model = TF(); tf.saved_model.LoadOptions = load_options.LoadOptions
    runtime.import_tensorflow = lambda: tf
    constant = constant_op.constant; string = dtypes.string
else:
    tf = runtime.import_tensorflow(); runtime.use_threads(2)
    constant = tf.constant; string = tf.string
t1 = time.perf_counter()
sig = "translate_greedy" if beam == 1 else "serving_default"
runtime.load_text_ops(model)
t2 = time.perf_counter()
loaded = runtime._load_partially(model, [sig])
f = loaded.signatures[sig]
t3 = time.perf_counter()
f(sources=constant(["."]))
t4 = time.perf_counter()
src = [l.decode().rstrip("\n") for l in gzip.open("/work/shared/data/multi30k/test_2016_flickr.en.gz")]
out = f(sources=constant(src[:64], string))
t5 = time.perf_counter()
print(json.dumps(dict(mode=mode, imp=round(t1 - t0, 2), textops=round(t2 - t1, 2), load=round(t3 - t2, 2), first=round(t4 - t3, 2), batch=round(t5 - t4, 3), rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, mods=len(sys.modules))), out["translations"].numpy()[1][:30])
