"""Mixed precision (`training.precision: bfloat16`): the training step's
products in bfloat16, the weights, states, losses and updates in float32."""

import warnings

import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm import config as config_lib
from nlp_lstm.layers import linear
from nlp_lstm.training.losses import translator_loss
from nlp_lstm.training.trainer import make_gradient_fn
from nlp_lstm.utils import cores
from tests.training.test_training_step import batch_of, tiny_translator


def relative_error(value, reference) -> float:
    value, reference = np.asarray(value, np.float64), np.asarray(reference, np.float64)
    return float(np.linalg.norm(value - reference) / np.linalg.norm(reference))


def test_matmul_rounds_its_operands_only_inside_the_context():
    generator = tf.random.Generator.from_seed(0)
    a, b = generator.normal((16, 64)), generator.normal((64, 32))
    exact = tf.matmul(a, b)
    np.testing.assert_array_equal(linear.matmul(a, b), exact)
    with linear.matmul_precision("bfloat16"):
        mixed = linear.matmul(a, b, transpose_b=False)
        mixed_t = linear.matmul(a, tf.transpose(b), transpose_b=True)
    np.testing.assert_array_equal(linear.matmul(a, b), exact)  # context left
    assert mixed.dtype == mixed_t.dtype == tf.float32
    # bfloat16 keeps 8 significant bits: off by about 2^-9 relative, where a
    # float32 product would be off by about 2^-24.
    assert 1e-4 < relative_error(mixed, exact) < 1e-2
    np.testing.assert_array_equal(mixed, mixed_t)


def test_an_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="float32, bfloat16"):
        with linear.matmul_precision("float16"):
            pass


def gradients(precision: str):
    model = tiny_translator()
    gradient_fn = tf.function(
        make_gradient_fn(model, translator_loss(0.1), 1, precision)
    )
    batch = batch_of(6, seed=4)
    loss, tokens, grads = gradient_fn(batch)
    graph = gradient_fn.get_concrete_function(batch).graph.as_graph_def()
    matmuls = {}
    functions = graph.library.function
    for node in [*graph.node, *(n for f in functions for n in f.node_def)]:
        if node.op in ("MatMul", "BatchMatMulV2", "BatchMatMulV3"):
            dtype = tf.as_dtype(node.attr["T"].type).name
            matmuls[dtype] = matmuls.get(dtype, 0) + 1
    # Keyed by the weight's name (paths differ: Keras numbers each model).
    names = [f"{i}:{v.name}" for i, v in enumerate(model.trainable_variables)]
    values = [tf.convert_to_tensor(g).numpy() for g in grads]
    return float(loss), dict(zip(names, values, strict=True)), matmuls


def test_bfloat16_step_follows_the_float32_one():
    loss32, grads32, matmuls32 = gradients("float32")
    loss16, grads16, matmuls16 = gradients("bfloat16")
    assert "bfloat16" not in matmuls32
    # The loops' forward and backward products, the output projection and
    # its gradients: most of the step's matmuls run in bfloat16.
    assert matmuls16["bfloat16"] > 2 * matmuls16.get("float32", 0), matmuls16
    assert abs(loss16 - loss32) < 1e-2 * abs(loss32)
    assert grads16.keys() == grads32.keys()
    for name, reference in grads32.items():
        value = grads16[name]
        assert value.dtype == np.float32, name
        if not np.any(reference):
            continue
        assert relative_error(value, reference) < 0.05, name
        assert not np.array_equal(value, reference), name  # rounded on the way


def test_precision_is_a_training_option_refused_with_truncated_bptt():
    training = config_lib.TaggingTrainingConfig(precision="bfloat16")
    training.validate("training")
    training.tbptt.chunk = 16
    with pytest.raises(config_lib.ConfigError, match="training.precision"):
        training.validate("training")


def test_bfloat16_instructions_are_read_from_the_cpu_flags(tmp_path):
    def cpuinfo(flags: str) -> str:
        path = tmp_path / f"cpuinfo_{len(flags)}"
        path.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
        return str(path)

    assert cores.has_bfloat16_instructions(cpuinfo("fpu avx2 avx512f avx512_bf16"))
    assert cores.has_bfloat16_instructions(cpuinfo("fpu amx_tile amx_bf16"))
    assert cores.has_bfloat16_instructions(cpuinfo("fpu avx2 avx512f")) is False
    assert cores.has_bfloat16_instructions(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("hardware", [False, True, None])
def test_emulated_bfloat16_is_warned_about_only_where_the_cpu_lacks_it(
    hardware, monkeypatch
):
    monkeypatch.setattr(cores, "has_bfloat16_instructions", lambda: hardware)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cores.warn_if_bfloat16_is_emulated("training.precision", "Use float32.")
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    if hardware is False:
        assert len(messages) == 1
        assert messages[0].startswith("training.precision is bfloat16")
        assert messages[0].endswith("Use float32.")
    else:  # instructions present, or the CPU unknown
        assert messages == []
