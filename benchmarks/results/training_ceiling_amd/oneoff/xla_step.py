"""One-off: the translator's step with each tower's forward+backward under XLA (jit_compile).

    python xla_step.py base|xla [KEY=VALUE ...]   (from the repository root)
"""
import os, sys, statistics, json
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 4))
sys.path.insert(0, os.path.join(ROOT, "benchmarks")); sys.path.insert(0, ROOT)
import tensorflow as tf
import training_step as ts
import profile_training
from nlp_lstm.training import trainer
from nlp_lstm.training.losses import masked_cross_entropy
from nlp_lstm.layers import linear

MODE = sys.argv[1]  # base | xla | masked
orig = trainer.make_gradient_fn

def masked_loss(label_smoothing):
    def loss_fn(model, batch, training):
        (source, target_in), target_out = batch
        outputs = model.attentional((source, target_in), training=training)
        return masked_cross_entropy(target_out, model.logits(outputs), pad_id=model.pad_id, label_smoothing=label_smoothing)
    return loss_fn

if MODE in ("xla", "masked"):
    profile_training.translator_training_loss = lambda tc: masked_loss(tc.label_smoothing)
if MODE == "xla":
    def make_gradient_fn(model, loss_fn, towers=None, precision="float32"):
        towers = 1 if towers is None else trainer.resolve_towers(towers)
        variables = model.trainable_variables
        @tf.function(jit_compile=True, autograph=False)
        def one_tower(batch):
            with tf.GradientTape() as tape:
                loss, tokens = loss_fn(model, batch, True)
            return loss, tokens, tape.gradient(loss, variables)
        def tower_gradients(batch):
            results = [one_tower(part) for part in trainer.split_batch(batch, towers)]
            counts = [tf.cast(c, tf.float32) for _, c, _ in results]
            tokens = tf.add_n(counts)
            share = [c / tf.maximum(tokens, 1.0) for c in counts]
            loss = tf.add_n([l * w for (l, _, _), w in zip(results, share)])
            grads = [trainer._weighted_sum([g[i] for _, _, g in results], share) for i in range(len(variables))]
            return loss, tokens, grads
        return one_tower if towers == 1 else tower_gradients
    trainer.make_gradient_fn = make_gradient_fn
result = ts._child("translator", 30, settings=sys.argv[2:])
print(MODE, json.dumps({k: result[k] for k in ("median_step_s", "tokens_per_s", "average_batch_s")}))
