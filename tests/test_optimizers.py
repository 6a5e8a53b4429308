import math

import numpy as np
import pytest

from npnet import optimizers

# Three steps' gradients for a 3-element parameter; the small middle step makes AMSGrad's max(vhat, v) matter.
GRADS = [np.array([0.5, -1.0, 2.0]), np.array([0.01, 0.2, -0.001]), np.array([-0.3, 0.05, 0.4])]
P0 = np.array([1.0, -2.0, 0.25])


def run(opt, steps=3):
    p = P0.copy()
    for g in GRADS[:steps]:
        opt.apply_gradients([(g, p)])
    return p


def hand_adam(lr, beta_1=0.9, beta_2=0.999, eps=1e-7, decay=0.0, amsgrad=False):
    """Keras 2's Adam written element by element with Python floats."""
    p = [float(v) for v in P0]
    m, v, vhat = [0.0] * 3, [0.0] * 3, [0.0] * 3
    for it, g in enumerate(GRADS):  # it = iterations before this step
        lr_k = lr / (1 + decay * it)
        t = it + 1
        a = lr_k * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        for i in range(3):
            m[i] = beta_1 * m[i] + (1 - beta_1) * g[i]
            v[i] = beta_2 * v[i] + (1 - beta_2) * g[i] ** 2
            vhat[i] = max(vhat[i], v[i])
            p[i] -= a * m[i] / (math.sqrt(vhat[i] if amsgrad else v[i]) + eps)
    return np.array(p)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.1},
        {"learning_rate": 0.1, "decay": 0.5},
        {"learning_rate": 0.1, "decay": 0.5, "amsgrad": True},
        {"learning_rate": 0.05, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3, "amsgrad": True},
    ],
)
def test_adam_matches_hand_computation(kwargs):
    hand = {**kwargs}
    hand["lr"] = hand.pop("learning_rate")
    if "epsilon" in hand:
        hand["eps"] = hand.pop("epsilon")
    np.testing.assert_allclose(run(optimizers.Adam(**kwargs)), hand_adam(**hand), rtol=1e-14, atol=1e-15)


def test_adam_decay_counts_iterations_before_the_step():
    # With it+1 in the decay the first step would already use lr/1.5: visibly different.
    one_step = run(optimizers.Adam(learning_rate=0.1, decay=0.5), steps=1)
    no_decay = run(optimizers.Adam(learning_rate=0.1), steps=1)
    assert np.array_equal(one_step, no_decay)
    assert not np.allclose(run(optimizers.Adam(learning_rate=0.1, decay=0.5)), run(optimizers.Adam(0.1)))


def test_amsgrad_changes_the_result_here():
    assert not np.allclose(run(optimizers.Adam(0.1, amsgrad=True)), run(optimizers.Adam(0.1)))


def test_adam_state_is_inspectable():
    opt = optimizers.Adam(0.1, amsgrad=True)
    assert opt.m == [] and opt.iterations == 0
    run(opt)
    assert opt.iterations == 3
    m = 0.0
    for g in GRADS:
        m = 0.9 * m + 0.1 * g
    np.testing.assert_allclose(opt.m[0], m, rtol=1e-15)
    assert np.all(opt.vhat[0] >= opt.v[0])
    assert opt.current_learning_rate == 0.1


def test_adam_keras2_arguments():
    assert optimizers.Adam(epsilon=None).epsilon == 1e-7
    assert optimizers.Adam(lr=0.5).learning_rate == 0.5
    assert optimizers.Adam().learning_rate == 0.001
    with pytest.raises(ValueError, match="pass the learning rate once"):
        optimizers.Adam(learning_rate=0.1, lr=0.1)
    with pytest.raises(ValueError, match="learning_rate must be >= 0"):
        optimizers.Adam(-1.0)
    with pytest.raises(ValueError, match="decay must be >= 0"):
        optimizers.Adam(decay=-0.1)
    with pytest.raises(ValueError, match=r"beta_1 must be in \[0, 1\), got 1.0"):
        optimizers.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match=r"beta_2 must be in \[0, 1\), got -0.1"):
        optimizers.Adam(beta_2=-0.1)
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        optimizers.Adam(epsilon=-1e-7)
    assert optimizers.Adam(0.0).learning_rate == 0.0  # Keras's rule: a rate of 0 is accepted


def test_a_run_config_checks_adam_by_the_optimizers_rule():
    """One rule for Adam's hyperparameters: a TrainConfig refuses exactly what Adam refuses, in its words."""
    from npnet.errors import RunError
    from npnet.runs import TrainConfig

    assert TrainConfig(learning_rate=0.0).learning_rate == 0.0
    for bad in ({"learning_rate": -1.0}, {"decay": -0.1}, {"beta_1": 1.0}, {"epsilon": -1.0}):
        with pytest.raises(ValueError) as from_adam:
            optimizers.Adam(**bad)
        with pytest.raises(RunError) as from_config:
            TrainConfig(**bad)
        assert str(from_config.value) == str(from_adam.value)


def test_decayed_learning_rate_is_exposed():
    opt = optimizers.Adam(0.1, decay=0.5)
    run(opt, steps=2)
    assert opt.current_learning_rate == pytest.approx(0.1 / (1 + 0.5 * 2))


def hand_sgd(lr, momentum=0.0, nesterov=False, decay=0.0):
    p = [float(v) for v in P0]
    vel = [0.0] * 3
    for it, g in enumerate(GRADS):
        lr_k = lr / (1 + decay * it)
        for i in range(3):
            vel[i] = momentum * vel[i] - lr_k * g[i]
            p[i] += momentum * vel[i] - lr_k * g[i] if nesterov else vel[i]
    return np.array(p)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 0.1},
        {"lr": 0.1, "decay": 0.3},
        {"lr": 0.1, "momentum": 0.9},
        {"lr": 0.1, "momentum": 0.9, "nesterov": True, "decay": 0.3},
    ],
)
def test_sgd_matches_hand_computation(kwargs):
    np.testing.assert_allclose(run(optimizers.SGD(**kwargs)), hand_sgd(**kwargs), rtol=1e-14, atol=1e-15)


def test_plain_sgd_first_step_exactly():
    p = run(optimizers.SGD(0.1), steps=1)
    assert p.tolist() == (P0 - 0.1 * GRADS[0]).tolist()


@pytest.mark.parametrize(
    "make", [lambda: optimizers.Adam(0.1, decay=0.1, amsgrad=True), lambda: optimizers.SGD(0.1, 0.9)]
)
def test_state_round_trip_resumes_bitwise(make):
    straight = make()
    p_straight = run(straight)

    first = make()
    p = P0.copy()
    for g in GRADS[:2]:
        first.apply_gradients([(g, p)])
    state = first.get_state()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert int(state["iterations"]) == 2
    resumed = make()
    resumed.set_state(state)
    resumed.apply_gradients([(GRADS[2], p)])
    assert np.array_equal(p, p_straight)
    assert resumed.iterations == straight.iterations


def test_set_state_rejects_a_foreign_state():
    adam = optimizers.Adam()
    run(adam)
    with pytest.raises(ValueError, match="SGD state must hold"):
        optimizers.SGD().set_state(adam.get_state())
    sgd = optimizers.SGD(0.1, 0.9)
    sgd.set_state(sgd.get_state())  # empty before the first step is fine
    with pytest.raises(ValueError, match="use a fresh optimizer"):
        opt = optimizers.Adam()
        opt.apply_gradients([(np.ones(2), np.ones(2))])
        opt.apply_gradients([(np.ones(3), np.ones(3))])


def test_gradient_shape_must_match():
    with pytest.raises(ValueError, match="gradient 0 has shape"):
        optimizers.SGD().apply_gradients([(np.ones(2), np.ones(3))])


def test_lookup():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    sgd = optimizers.get("SGD")
    assert isinstance(sgd, optimizers.SGD) and sgd.learning_rate == 0.01
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        optimizers.get("rmsprop")
    assert optimizers.Adam(0.1).get_config()["learning_rate"] == 0.1
