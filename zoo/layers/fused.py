"""Whole-sequence GRU and LSTM recurrences with hand-written backward passes.

Each recurrence is a `tf.custom_gradient` around two `tf.while_loop`s over
time-major tensors: the forward loop stores the states and gate activations, the
backward loop walks the steps in reverse and returns every gradient.

Notation, as in the code: `W = kernel`, `U = recurrent_kernel`, `h₋`, `c₋` the
previous step's state, `a_g` gate g's pre-activation and `δv = ∂L/∂v`. At step t,
`δh` is the gradient carried back from step t+1 plus `∂L/∂h_t` from the output
sequence, and `δa_t` the pre-activation gradients `[δa_g]` in the kernel's gate
order.

GRU, gates `[z, r, h]` (`_gru_backward`):

    z = σ(a_z),  r = σ(a_r),   a_g = x_t W_g + b_in,g + b_rec,g + h₋ U_g  (g = z, r)
    ĥ = tanh(a_h),  a_h = x_t W_h + b_in,h + r ⊙ (h₋ U_h + b_rec,h)   reset_after
                    a_h = x_t W_h + b_in,h + (r ⊙ h₋) U_h             reset before
    h = z ⊙ h₋ + (1 − z) ⊙ ĥ

    δz = δh ⊙ (h₋ − ĥ)                    δa_z = δz ⊙ z ⊙ (1 − z)
    δĥ = δh ⊙ (1 − z)                     δa_h = δĥ ⊙ (1 − ĥ²)
    δr = δa_h ⊙ (h₋ U_h + b_rec,h)        reset_after
    δr = (δa_h U_hᵀ) ⊙ h₋                 reset before
                                          δa_r = δr ⊙ r ⊙ (1 − r)
    δh₋ = δh ⊙ z + [δa_z, δa_r] U_zrᵀ + (δa_h ⊙ r) U_hᵀ        reset_after
    δh₋ = δh ⊙ z + [δa_z, δa_r] U_zrᵀ + (δa_h U_hᵀ) ⊙ r        reset before

LSTM, gates `[i, f, c, o]` (`_lstm_backward`), `δc` carried back from step t+1:

    i, f, o = σ(a_i), σ(a_f), σ(a_o),  ĉ = tanh(a_c)     a = x_t W + b + h₋ U
    c = f ⊙ c₋ + i ⊙ ĉ,  h = o ⊙ tanh(c)

    δc ← δc + δh ⊙ o ⊙ (1 − tanh²(c))
    δi = δc ⊙ ĉ,  δf = δc ⊙ c₋,  δĉ = δc ⊙ i,  δo = δh ⊙ tanh(c)
    δa_i = δi ⊙ i ⊙ (1 − i),  δa_f = δf ⊙ f ⊙ (1 − f)
    δa_c = δĉ ⊙ (1 − ĉ²),     δa_o = δo ⊙ o ⊙ (1 − o)
    δh₋ = δa Uᵀ,  δc₋ = δc ⊙ f

Both, with `Σ_B` a sum over the batch:

    ∂L/∂x_t = δa_t Wᵀ
    ∂L/∂W = Σ_t x_tᵀ δa_t,   ∂L/∂b = Σ_t Σ_B δa_t
    ∂L/∂U = Σ_t h₋ᵀ δa_t     (GRU: the U_h columns get Σ_t h₋ᵀ (δa_h ⊙ r) with
                              reset_after, Σ_t (r ⊙ h₋)ᵀ δa_h with reset before)
    ∂L/∂h0, ∂L/∂c0 = δh₋, δc₋ of step 0

Masking: a mask `m_t` of 0/1 per row. A masked step (`m_t = 0`) carries the state
through unchanged (`h_t = h₋`, `c_t = c₋`) and its gradient too: the step's
equations get `m_t δh` (and `m_t δc`), so `δa_t = 0` and the step adds nothing to
∂L/∂x_t, ∂L/∂W, ∂L/∂U, ∂L/∂b, while `(1 − m_t) δh` (and `(1 − m_t) δc`) is
added to `δh₋` (`δc₋`) as it is.

Where the matmuls run: every one of them per step, inside the loops.

* forward: the input projection `x_t W + b` and the recurrent one `h₋ U` (GRU
  reset before: `h₋ U_zr`, then `(r ⊙ h₋) U_h`), then the gate arithmetic;
* backward: on the chain, the matmuls into δh₋ (LSTM `δa_t Uᵀ`; GRU
  `[δa_z, δa_r] U_zrᵀ` and `(δa_h ⊙ r) U_hᵀ`, or reset before `δa_h U_hᵀ`), and
  beside them the step's `δa_t Wᵀ` (∂L/∂x_t, stacked) and `x_tᵀ δa_t`, `h₋ᵀ δa_t`
  added into ∂L/∂W, ∂L/∂U carried by the loop; automatic differentiation of the
  step function would instead keep per-step TensorLists and sum them afterwards.

Each step's work off the recurrent chain (the input projection going forward; the
gradients for x, W, U and the biases going back) does not depend on the previous
step, so TensorFlow's executor runs it beside the chain's small matmul. On a
2-core CPU that is what makes the loops fast: hoisting `x W` out of the loop as
one large matmul leaves the second core idle during the loop and was measured
slower, and so was computing ∂L/∂x, ∂L/∂W, ∂L/∂U after the loop as large matmuls
(see benchmarks/RESULTS.md).

Each loop is an XLA cluster when `compiled_loops()` is on (the default where a GPU
is visible), which fuses the gate arithmetic of a step into a few kernels. Exports for TF Serving must not
carry XLA-must-compile functions, so `zoo.export` traces with `compiled_loops(False)`.

Shapes: `T` time, `B` batch, `D` input features, `U` units. Masks are float
`(T, B, 1)` of 0/1.
"""

import contextlib
import threading

import tensorflow as tf

_settings = threading.local()


def loops_are_compiled():
    """XLA for the loops: on where a GPU is visible, unless set by `compiled_loops`.

    On CPU the loops are matmul-bound and XLA measured no faster (see
    benchmarks/RESULTS.md); on GPU it fuses each step's gate arithmetic.
    """
    compiled = getattr(_settings, "compiled", None)
    if compiled is None:
        compiled = bool(tf.config.list_physical_devices("GPU"))
    return compiled


def compiled_loops(enabled=True):
    """Trace the recurrences as XLA clusters (`True`) or as plain TF loops."""
    return _setting("compiled", enabled)


def unrolled_loops():
    """Trace the recurrences as one chain of steps (a Python loop over a time length known
    when tracing) instead of `tf.while_loop`s: what LiteRT's builtin ops and tf2onnx take
    (`zoo.edge`). The same equations, masks and results; no XLA."""
    return _setting("unrolled", True)


def loops_are_unrolled():
    """True inside `unrolled_loops()`."""
    return bool(getattr(_settings, "unrolled", False))


@contextlib.contextmanager
def portable_loops():
    """Trace for a SavedModel any machine serves: no XLA clusters (TF Serving's CPU build
    refuses XLA-must-compile ops) and no cuDNN ops (they have no CPU kernel)."""
    with compiled_loops(False), _setting("portable", True):
        yield


def loops_are_portable():
    """True inside `portable_loops()` or `unrolled_loops()`: the layers must not use cuDNN."""
    return bool(getattr(_settings, "portable", False)) or loops_are_unrolled()


@contextlib.contextmanager
def _setting(name, value):
    previous = getattr(_settings, name, None)
    setattr(_settings, name, value)
    try:
        yield
    finally:
        setattr(_settings, name, previous)


def _dual(python_function):
    """The function as three tf.functions: XLA-compiled, plain, and unrolled (`unrolled_loops`)."""
    compiled = tf.function(python_function, jit_compile=True, autograph=False)
    plain = tf.function(python_function, autograph=False)
    unrolled = tf.function(python_function, autograph=False)  # its own traces: they hold no loops

    def call(*args):
        if loops_are_unrolled():
            fn = unrolled
        else:
            fn = compiled if loops_are_compiled() else plain
        # The gradient is hand-written: keep autodiff from tracing through (and
        # from asking XLA for the loop's intermediate TensorLists).
        return fn(*[a if a is None or isinstance(a, bool) else tf.stop_gradient(a) for a in args])

    return call


def _steps(time_major):
    """The number of time steps: a Python int when the shape says it, else a tensor."""
    return time_major.shape[0] if time_major.shape[0] is not None else tf.shape(time_major)[0]


def _time_loop(num_steps, body, carry, outputs, reverse=False):
    """Runs `carry, step_outputs = body(t, carry)` for each t and stacks outputs.

    `outputs` is a list of (dtype, element_shape) for the per-step outputs. Under
    `unrolled_loops()` with `num_steps` known when tracing, the steps are a Python loop.
    """
    if loops_are_unrolled():
        steps = tf.get_static_value(num_steps)
        if steps is None:
            raise ValueError("unrolled_loops(): the number of time steps must be known when tracing "
                             "(give the input a fixed length).")
        stacked = [[] for _ in outputs]
        for i in range(int(steps)):
            carry, step_outputs = body(int(steps) - 1 - i if reverse else i, carry)
            for values, value in zip(stacked, step_outputs):
                values.append(value)
        if reverse:
            stacked = [values[::-1] for values in stacked]
        return carry, [tf.stack(values) for values in stacked]
    arrays = [
        tf.TensorArray(dtype, size=num_steps, element_shape=shape)
        for dtype, shape in outputs
    ]

    def loop_body(i, carry, arrays):
        t = num_steps - 1 - i if reverse else i
        carry, step_outputs = body(t, carry)
        arrays = [a.write(t, value) for a, value in zip(arrays, step_outputs)]
        return i + 1, carry, arrays

    _, carry, arrays = tf.while_loop(
        lambda i, *_: i < num_steps,
        loop_body,
        (tf.constant(0), carry, arrays),
        maximum_iterations=num_steps,
    )
    return carry, [a.stack() for a in arrays]


def _keep_where_masked(mask_t, new, old):
    return new if mask_t is None else tf.where(mask_t > 0, new, old)


def _split_masked(mask_t, delta):
    """(gradient into the step, gradient that skips a masked step: None without a mask)."""
    if mask_t is None:
        return delta, None
    return mask_t * delta, (1.0 - mask_t) * delta


def _plus_skipped(gradient, skipped):
    return gradient if skipped is None else gradient + skipped


def _zeros_if_none(*gradients_and_likes):
    """Upstream gradients of outputs nothing depends on arrive as None."""
    return [tf.zeros_like(like) if g is None else g for g, like in gradients_and_likes]


# From this many units on, the forward steps multiply by each gate block's columns
# of W and U separately instead of by all at once: the chain's `h₋ U` becomes G
# independent matmuls that the executor spreads over the cores, and each gate's
# arithmetic starts when its own block is ready. Measured on 2 cores, batch 64,
# LSTM forward at T=200: 0.84x the time at 192 units, 0.68x at 256, 0.81x at 384,
# but 1.07x at 128, where the matmuls are too small to gain from splitting.
PER_GATE_MATMULS_FROM_UNITS = 192


def _tensors(*values):
    """The values as tensors: a variable (a distributed one read outside replica context, under
    MultiWorkerMirroredStrategy) read here, so the custom gradient sees tensors only."""
    return [tf.convert_to_tensor(value) for value in values]


def _per_gate_matmuls(units, per_gate_matmuls):
    if per_gate_matmuls is None:
        return units >= PER_GATE_MATMULS_FROM_UNITS
    return bool(per_gate_matmuls)


def _plus_bias(product, bias):
    return product if bias is None else product + bias


def _gate_blocks(kernel, num_gates, per_gate, bias=None):
    """A function `a ↦ [a K_g + b_g for each gate g]` over the column blocks of `K`."""
    if not per_gate:
        return lambda a: tf.split(_plus_bias(tf.matmul(a, kernel), bias), num_gates, axis=-1)
    kernels = tf.split(kernel, num_gates, axis=1)
    biases = [None] * num_gates if bias is None else tf.split(bias, num_gates)
    return lambda a: [_plus_bias(tf.matmul(a, k), b) for k, b in zip(kernels, biases)]


# ---------------------------------------------------------------------------- GRU


def _gru_forward(
    inputs, kernel, input_bias, recurrent_kernel, recurrent_bias, h0, mask, reset_after, per_gate
):
    """Returns states (T, B, U), gates z, r, ĥ (T, B, 3U) and hu_h (T, B, U).

    `hu_h` is `h₋ U_h + b_rec,h` with reset_after (the backward needs it for δr),
    `(r ⊙ h₋) U_h` with reset before. Per step, the input projection
    `x_t W + b_in + [b_rec,z, b_rec,r, 0]` runs beside the chain's `h₋ U`.
    """
    units = recurrent_kernel.shape[0]
    num_steps = _steps(inputs)
    state_shape = h0.shape
    gate_shape = tf.TensorShape([h0.shape[0], 3 * units])
    recurrent_kernel_zr = recurrent_kernel[:, : 2 * units]
    recurrent_kernel_h = recurrent_kernel[:, 2 * units :]
    # The z and r parts of b_rec add to the input side, off the chain; its h part
    # stays with U_h h₋, which r multiplies.
    recurrent_bias_zr, recurrent_bias_h = recurrent_bias[: 2 * units], recurrent_bias[2 * units :]
    input_bias = input_bias + tf.concat([recurrent_bias_zr, tf.zeros_like(recurrent_bias_h)], 0)
    input_blocks = _gate_blocks(kernel, 3, per_gate, input_bias)
    if reset_after:
        recurrent_blocks = _gate_blocks(recurrent_kernel, 3, per_gate)
    else:
        recurrent_blocks = _gate_blocks(recurrent_kernel_zr, 2, per_gate)

    def step(t, h):
        x_z, x_r, x_h = input_blocks(inputs[t])
        if reset_after:
            hu_z, hu_r, hu_h = recurrent_blocks(h)
            hu_h += recurrent_bias_h
            z = tf.sigmoid(x_z + hu_z)
            r = tf.sigmoid(x_r + hu_r)
            candidate = tf.tanh(x_h + r * hu_h)
        else:
            hu_z, hu_r = recurrent_blocks(h)
            z = tf.sigmoid(x_z + hu_z)
            r = tf.sigmoid(x_r + hu_r)
            hu_h = tf.matmul(r * h, recurrent_kernel_h)
            candidate = tf.tanh(x_h + hu_h)
        h_new = z * h + (1.0 - z) * candidate
        h_new = _keep_where_masked(None if mask is None else mask[t], h_new, h)
        return h_new, [h_new, tf.concat([z, r, candidate], axis=-1), hu_h]

    _, (states, gates, hu_h) = _time_loop(
        num_steps,
        step,
        h0,
        [(inputs.dtype, state_shape), (inputs.dtype, gate_shape), (inputs.dtype, state_shape)],
    )
    return states, gates, hu_h


def _gru_backward(
    d_states, d_last, inputs, kernel, states, gates, hu_h, recurrent_kernel, h0, mask, reset_after
):
    """Returns ∂L/∂x (T, B, D), ∂L/∂W, ∂L/∂b_in, ∂L/∂U, ∂L/∂b_rec (3U,), ∂L/∂h0.

    The GRU's backward step at t, from t = T − 1 down to 0, with the code's names
    on the right; with reset_after, `hu_h[t]` is the `h₋ U_h + b_rec,h` saved by
    the forward loop:

        δh = carried δh + ∂L/∂h_t                           dh + d_states[t]
        δh, δh_skip = m_t δh, (1 − m_t) δh                  dh_step, dh_skip
        δa_z = δh ⊙ (h₋ − ĥ) ⊙ z ⊙ (1 − z)                  da_z    (δz ⊙ σ')
        δa_h = δh ⊙ (1 − z) ⊙ (1 − ĥ²)                      da_h    (δĥ ⊙ tanh')
        reset_after:
          δ(h₋ U_h + b_rec,h) = δa_h ⊙ r                    d_hu_h
          δa_r = δa_h ⊙ (h₋ U_h + b_rec,h) ⊙ r ⊙ (1 − r)    da_r    (δr ⊙ σ')
          ∂L/∂U_h += h₋ᵀ (δa_h ⊙ r)                         d_recurrent_kernel_h
          ∂L/∂b_rec,h += Σ_B δa_h ⊙ r                       d_recurrent_bias_h
          δh₋ = δh ⊙ z + δh_skip + (δa_h ⊙ r) U_hᵀ + [δa_z, δa_r] U_zrᵀ
        reset before:
          δ(r ⊙ h₋) = δa_h U_hᵀ                             d_rh
          δa_r = δ(r ⊙ h₋) ⊙ h₋ ⊙ r ⊙ (1 − r)               da_r    (δr ⊙ σ')
          ∂L/∂U_h += (r ⊙ h₋)ᵀ δa_h                         d_recurrent_kernel_h
          δh₋ = δh ⊙ z + δh_skip + δ(r ⊙ h₋) ⊙ r + [δa_z, δa_r] U_zrᵀ
        ∂L/∂U_zr += h₋ᵀ [δa_z, δa_r]                        d_recurrent_kernel_zr
        δa = [δa_z, δa_r, δa_h]                             da      (∂L/∂(x_t W + b_in))
        ∂L/∂W += x_tᵀ δa,   ∂L/∂b_in += Σ_B δa              d_kernel, d_input_bias
        ∂L/∂x_t = δa Wᵀ                                     the stacked output

    δh₋ is carried to step t − 1; it starts from ∂L/∂h_T of the returned last
    state, and after step 0 it is ∂L/∂h0. A masked step (`m_t = 0`) gets δh = 0,
    so δa = 0 and it adds nothing to any sum; its δh goes on to δh₋ unchanged as
    δh_skip. `b_rec`'s z and r parts enter the
    forward step as `b_in`'s do, so ∂L/∂b_rec = [∂L/∂b_in,z, ∂L/∂b_in,r,
    ∂L/∂b_rec,h], the last part zero with reset before.

    All matmuls run per step in the loop: on the chain the ones into δh₋ (and,
    reset before, `δa_h U_hᵀ`, which δa_r needs); beside it `δa Wᵀ` and the
    ∂L/∂W, ∂L/∂U products, accumulated in the loop's carry.
    """
    units = recurrent_kernel.shape[0]
    num_steps = _steps(states)
    previous_states = tf.concat([h0[None], states[:-1]], axis=0)
    kernel_t = tf.transpose(kernel)  # (3U, D)
    recurrent_kernel_t = tf.transpose(recurrent_kernel)  # (3U, U)
    recurrent_kernel_t_zr, recurrent_kernel_t_h = recurrent_kernel_t[: 2 * units], recurrent_kernel_t[2 * units :]

    def step(t, carry):
        dh, d_kernel, d_input_bias, d_recurrent_kernel_zr, d_recurrent_kernel_h, d_recurrent_bias_h = (
            carry
        )
        z, r, candidate = tf.split(gates[t], 3, axis=-1)
        h_prev = previous_states[t]
        dh_step, dh_skip = _split_masked(None if mask is None else mask[t], dh + d_states[t])
        da_z = dh_step * (h_prev - candidate) * z * (1.0 - z)
        da_h = dh_step * (1.0 - z) * (1.0 - candidate * candidate)
        dh_prev = _plus_skipped(dh_step * z, dh_skip)
        if reset_after:
            d_hu_h = da_h * r  # ∂L/∂(U_h h₋ + b_h)
            da_r = da_h * hu_h[t] * r * (1.0 - r)
            dh_prev += tf.matmul(d_hu_h, recurrent_kernel_t_h)
            d_recurrent_kernel_h += tf.matmul(h_prev, d_hu_h, transpose_a=True)
            d_recurrent_bias_h += tf.reduce_sum(d_hu_h, axis=0)
        else:
            d_rh = tf.matmul(da_h, recurrent_kernel_t_h)  # ∂L/∂(r ⊙ h₋)
            da_r = d_rh * h_prev * r * (1.0 - r)
            dh_prev += d_rh * r
            d_recurrent_kernel_h += tf.matmul(r * h_prev, da_h, transpose_a=True)
        da_zr = tf.concat([da_z, da_r], axis=-1)
        dh_prev += tf.matmul(da_zr, recurrent_kernel_t_zr)
        d_recurrent_kernel_zr += tf.matmul(h_prev, da_zr, transpose_a=True)
        da = tf.concat([da_zr, da_h], axis=-1)  # ∂L/∂(x W + b_in)
        d_kernel += tf.matmul(inputs[t], da, transpose_a=True)
        d_input_bias += tf.reduce_sum(da, axis=0)
        carry = (dh_prev, d_kernel, d_input_bias, d_recurrent_kernel_zr, d_recurrent_kernel_h,
                 d_recurrent_bias_h)
        return carry, [tf.matmul(da, kernel_t)]

    initial_carry = (
        d_last,
        tf.zeros_like(kernel),
        tf.zeros([3 * units], states.dtype),
        tf.zeros([units, 2 * units], states.dtype),
        tf.zeros([units, units], states.dtype),
        tf.zeros([units], states.dtype),
    )
    carry, (d_inputs,) = _time_loop(
        num_steps, step, initial_carry, [(inputs.dtype, inputs.shape[1:])], reverse=True
    )
    dh0, d_kernel, d_input_bias, d_recurrent_kernel_zr, d_recurrent_kernel_h, d_recurrent_bias_h = carry
    d_recurrent_kernel = tf.concat([d_recurrent_kernel_zr, d_recurrent_kernel_h], axis=-1)
    # b_rec's z and r parts enter as b_in's do; its h part only through U_h h₋
    # (so zero without reset_after).
    d_recurrent_bias = tf.concat([d_input_bias[: 2 * units], d_recurrent_bias_h], axis=0)
    return d_inputs, d_kernel, d_input_bias, d_recurrent_kernel, d_recurrent_bias, dh0


_gru_forward_fn = _dual(_gru_forward)
_gru_backward_fn = _dual(_gru_backward)


def gru_sequence(
    inputs,
    kernel,
    input_bias,
    recurrent_kernel,
    recurrent_bias,
    h0,
    mask=None,
    reset_after=True,
    per_gate_matmuls=None,
):
    """GRU states for all steps.

    Args:
      inputs: `(T, B, D)`.
      kernel, input_bias: `W`, `(D, 3U)`, and `b_in`, `(3U,)`, in gate order `[z, r, h]`.
      recurrent_kernel: `U`, `(U, 3U)`.
      recurrent_bias: `(3U,)`, added to `h₋ U` (zeros when `reset_after=False`).
      h0: `(B, U)` initial state.
      mask: optional `(T, B, 1)` float 0/1.
      per_gate_matmuls: one matmul per gate block in the forward step (True) or
        one for all blocks (False); by default True from
        `PER_GATE_MATMULS_FROM_UNITS` units on. Same results either way.
    Returns:
      states `(T, B, U)` and the last state `(B, U)`.
    """
    per_gate = _per_gate_matmuls(recurrent_kernel.shape[0], per_gate_matmuls)

    @tf.custom_gradient
    def recurrence(inputs, kernel, input_bias, recurrent_kernel, recurrent_bias, h0):
        states, gates, hu_h = _gru_forward_fn(
            inputs, kernel, input_bias, recurrent_kernel, recurrent_bias, h0, mask, reset_after,
            per_gate,
        )

        def grad(d_states, d_last):
            d_states, d_last = _zeros_if_none((d_states, states), (d_last, h0))
            return _gru_backward_fn(
                d_states, d_last, inputs, kernel, states, gates, hu_h, recurrent_kernel, h0, mask,
                reset_after,
            )

        return (states, states[-1]), grad

    return recurrence(*_tensors(inputs, kernel, input_bias, recurrent_kernel, recurrent_bias, h0))


# --------------------------------------------------------------------------- LSTM


def _lstm_forward(inputs, kernel, bias, recurrent_kernel, h0, c0, mask, per_gate):
    """Returns h (T, B, U), c (T, B, U) and gates i, f, ĉ, o (T, B, 4U).

    Per step, the input projection `x_t W + b` runs beside the chain's `h₋ U`.
    """
    num_steps = _steps(inputs)
    units = recurrent_kernel.shape[0]
    state_shape = h0.shape
    if not per_gate:

        def pre_activations(x_t, h):
            return tf.split(tf.matmul(x_t, kernel) + bias + tf.matmul(h, recurrent_kernel), 4, axis=-1)

    else:
        input_blocks = _gate_blocks(kernel, 4, True, bias)
        recurrent_blocks = _gate_blocks(recurrent_kernel, 4, True)

        def pre_activations(x_t, h):
            return [x + hu for x, hu in zip(input_blocks(x_t), recurrent_blocks(h))]

    def step(t, state):
        h, c = state
        a_i, a_f, a_c, a_o = pre_activations(inputs[t], h)
        i, f, o = tf.sigmoid(a_i), tf.sigmoid(a_f), tf.sigmoid(a_o)
        candidate = tf.tanh(a_c)
        c_new = f * c + i * candidate
        h_new = o * tf.tanh(c_new)
        mask_t = None if mask is None else mask[t]
        h_new = _keep_where_masked(mask_t, h_new, h)
        c_new = _keep_where_masked(mask_t, c_new, c)
        return (h_new, c_new), [h_new, c_new, tf.concat([i, f, candidate, o], -1)]

    _, (h_seq, c_seq, gates) = _time_loop(
        num_steps,
        step,
        (h0, c0),
        [
            (inputs.dtype, state_shape),
            (inputs.dtype, state_shape),
            (inputs.dtype, tf.TensorShape([h0.shape[0], 4 * units])),
        ],
    )
    return h_seq, c_seq, gates


def _lstm_backward(
    d_h_seq, d_h_last, d_c_last, inputs, kernel, h_seq, c_seq, gates, recurrent_kernel, h0, c0, mask
):
    """Returns ∂L/∂x (T, B, D), ∂L/∂W, ∂L/∂b, ∂L/∂U, ∂L/∂h0, ∂L/∂c0.

    The LSTM's backward step at t, from t = T − 1 down to 0, with the code's
    names on the right:

        δh = carried δh + ∂L/∂h_t                           dh + d_h_seq[t]
        δh, δh_skip = m_t δh, (1 − m_t) δh                  dh_step, dh_skip
        δc, δc_skip = m_t δc, (1 − m_t) δc                  dc_step, dc_skip
        δc ← δc + δh ⊙ o ⊙ (1 − tanh²(c))                   dc_total
        δa_i = δc ⊙ ĉ ⊙ i ⊙ (1 − i)                         (δi = δc ⊙ ĉ)
        δa_f = δc ⊙ c₋ ⊙ f ⊙ (1 − f)                        (δf = δc ⊙ c₋)
        δa_c = δc ⊙ i ⊙ (1 − ĉ²)                            (δĉ = δc ⊙ i)
        δa_o = δh ⊙ tanh(c) ⊙ o ⊙ (1 − o)                   (δo = δh ⊙ tanh(c))
        δa = [δa_i, δa_f, δa_c, δa_o]                       da      (∂L/∂(x_t W + b + h₋ U))
        δh₋ = δa Uᵀ + δh_skip,   δc₋ = δc ⊙ f + δc_skip     the carried dh, dc
        ∂L/∂W += x_tᵀ δa,  ∂L/∂b += Σ_B δa,  ∂L/∂U += h₋ᵀ δa
        ∂L/∂x_t = δa Wᵀ                                     the stacked output

    δh₋, δc₋ are carried to step t − 1; after step 0 they are ∂L/∂h0, ∂L/∂c0
    (they start from ∂L/∂h_T, ∂L/∂c_T of the last states). A masked step
    (`m_t = 0`) gets δh = δc = 0, so δa = 0 and it adds nothing to any sum; its
    δh, δc go on to δh₋, δc₋ unchanged.

    All matmuls run per step in the loop: `δa Uᵀ` on the chain; beside it
    `δa Wᵀ`, `x_tᵀ δa` and `h₋ᵀ δa`, the last two accumulated in the loop's carry.
    """
    num_steps = _steps(h_seq)
    units = recurrent_kernel.shape[0]
    previous_h = tf.concat([h0[None], h_seq[:-1]], axis=0)
    previous_c = tf.concat([c0[None], c_seq[:-1]], axis=0)
    kernel_t = tf.transpose(kernel)  # (4U, D)
    recurrent_kernel_t = tf.transpose(recurrent_kernel)  # (4U, U)

    def step(t, carry):
        dh, dc, d_kernel, d_bias, d_recurrent_kernel = carry
        mask_t = None if mask is None else mask[t]
        dh_step, dh_skip = _split_masked(mask_t, dh + d_h_seq[t])
        dc_step, dc_skip = _split_masked(mask_t, dc)
        i, f, candidate, o = tf.split(gates[t], 4, axis=-1)
        tanh_c = tf.tanh(c_seq[t])
        dc_total = dc_step + dh_step * o * (1.0 - tanh_c * tanh_c)
        da = tf.concat(
            [
                dc_total * candidate * i * (1.0 - i),
                dc_total * previous_c[t] * f * (1.0 - f),
                dc_total * i * (1.0 - candidate * candidate),
                dh_step * tanh_c * o * (1.0 - o),
            ],
            axis=-1,
        )
        carry = (
            _plus_skipped(tf.matmul(da, recurrent_kernel_t), dh_skip),
            _plus_skipped(dc_total * f, dc_skip),
            d_kernel + tf.matmul(inputs[t], da, transpose_a=True),
            d_bias + tf.reduce_sum(da, axis=0),
            d_recurrent_kernel + tf.matmul(previous_h[t], da, transpose_a=True),
        )
        return carry, [tf.matmul(da, kernel_t)]

    (dh0, dc0, d_kernel, d_bias, d_recurrent_kernel), (d_inputs,) = _time_loop(
        num_steps,
        step,
        (d_h_last, d_c_last, tf.zeros_like(kernel), tf.zeros([4 * units], h_seq.dtype),
         tf.zeros_like(recurrent_kernel)),
        [(inputs.dtype, inputs.shape[1:])],
        reverse=True,
    )
    return d_inputs, d_kernel, d_bias, d_recurrent_kernel, dh0, dc0


_lstm_forward_fn = _dual(_lstm_forward)
_lstm_backward_fn = _dual(_lstm_backward)


def lstm_sequence(inputs, kernel, bias, recurrent_kernel, h0, c0, mask=None, per_gate_matmuls=None):
    """LSTM states for all steps.

    Args:
      inputs: `(T, B, D)`.
      kernel, bias: `W`, `(D, 4U)`, and `b`, `(4U,)`, in gate order `[i, f, c, o]`.
      recurrent_kernel: `U`, `(U, 4U)`.
      h0, c0: `(B, U)` initial states.
      mask: optional `(T, B, 1)` float 0/1.
      per_gate_matmuls: as for `gru_sequence`.
    Returns:
      h states `(T, B, U)`, last h `(B, U)`, last c `(B, U)`.
    """
    per_gate = _per_gate_matmuls(recurrent_kernel.shape[0], per_gate_matmuls)

    @tf.custom_gradient
    def recurrence(inputs, kernel, bias, recurrent_kernel, h0, c0):
        h_seq, c_seq, gates = _lstm_forward_fn(
            inputs, kernel, bias, recurrent_kernel, h0, c0, mask, per_gate
        )

        def grad(d_h_seq, d_h_last, d_c_last):
            d_h_seq, d_h_last, d_c_last = _zeros_if_none(
                (d_h_seq, h_seq), (d_h_last, h0), (d_c_last, c0)
            )
            return _lstm_backward_fn(
                d_h_seq, d_h_last, d_c_last, inputs, kernel, h_seq, c_seq, gates,
                recurrent_kernel, h0, c0, mask,
            )

        return (h_seq, h_seq[-1], c_seq[-1]), grad

    return recurrence(*_tensors(inputs, kernel, bias, recurrent_kernel, h0, c0))
