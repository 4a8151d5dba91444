"""Whole-sequence GRU and LSTM recurrences with hand-written backward passes.

The layers in this package hoist the input projection `x W + b` out of the time
loop (one large matmul for all steps). What is left is the recurrence proper,
computed here over time-major tensors:

* forward: one `h₋ U` matmul per step plus the gate arithmetic;
* backward: one `δ Uᵀ` matmul per step; `∂L/∂U` is then a single matmul over all
  steps at once instead of one accumulation per step, which is what automatic
  differentiation of the step function would do.

Each loop is an XLA cluster when `compiled_loops()` is on (the default where a GPU
is visible), which fuses the gate arithmetic of a step into a few kernels. Exports for TF Serving must not
carry XLA-must-compile functions, so `zoo.export` traces with `compiled_loops(False)`.

Shapes: `T` time, `B` batch, `U` units. Masks are float `(T, B, 1)` of 0/1; at a
masked step the state is carried over unchanged.
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


@contextlib.contextmanager
def compiled_loops(enabled=True):
    """Trace the recurrences as XLA clusters (`True`) or as plain TF loops."""
    previous = getattr(_settings, "compiled", None)
    _settings.compiled = enabled
    try:
        yield
    finally:
        _settings.compiled = previous


def _dual(python_function):
    """The function as two tf.functions: XLA-compiled and plain."""
    compiled = tf.function(python_function, jit_compile=True, autograph=False)
    plain = tf.function(python_function, autograph=False)

    def call(*args):
        fn = compiled if loops_are_compiled() else plain
        # The gradient is hand-written: keep autodiff from tracing through (and
        # from asking XLA for the loop's intermediate TensorLists).
        return fn(*[a if a is None or isinstance(a, bool) else tf.stop_gradient(a) for a in args])

    return call


def _time_loop(num_steps, body, carry, outputs, reverse=False):
    """Runs `carry, step_outputs = body(t, carry)` for each t and stacks outputs.

    `outputs` is a list of (dtype, element_shape) for the per-step outputs.
    """
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
    """(gradient into the step, gradient that skips a masked step)."""
    if mask_t is None:
        return delta, tf.zeros_like(delta)
    return mask_t * delta, (1.0 - mask_t) * delta


def _zeros_if_none(*gradients_and_likes):
    """Upstream gradients of outputs nothing depends on arrive as None."""
    return [tf.zeros_like(like) if g is None else g for g, like in gradients_and_likes]


# ---------------------------------------------------------------------------- GRU


def _gru_forward(xw, recurrent_kernel, recurrent_bias, h0, mask, reset_after):
    """Returns states (T, B, U), gates z, r, ĥ (T, B, 3U) and `U_h h₋ + b_h` (T, B, U)."""
    units = recurrent_kernel.shape[0]
    num_steps = tf.shape(xw)[0]
    state_shape = h0.shape
    gate_shape = tf.TensorShape([h0.shape[0], 3 * units])

    def step(t, h):
        x_z, x_r, x_h = tf.split(xw[t], 3, axis=-1)
        if reset_after:
            hu = tf.matmul(h, recurrent_kernel) + recurrent_bias
            hu_z, hu_r, hu_h = tf.split(hu, 3, axis=-1)
            z = tf.sigmoid(x_z + hu_z)
            r = tf.sigmoid(x_r + hu_r)
            candidate = tf.tanh(x_h + r * hu_h)
        else:
            hu_zr = tf.matmul(h, recurrent_kernel[:, : 2 * units])
            hu_z, hu_r = tf.split(hu_zr, 2, axis=-1)
            z = tf.sigmoid(x_z + hu_z)
            r = tf.sigmoid(x_r + hu_r)
            hu_h = tf.matmul(r * h, recurrent_kernel[:, 2 * units :])
            candidate = tf.tanh(x_h + hu_h)
        h_new = z * h + (1.0 - z) * candidate
        h_new = _keep_where_masked(None if mask is None else mask[t], h_new, h)
        return h_new, [h_new, tf.concat([z, r, candidate], axis=-1), hu_h]

    _, (states, gates, hu_h) = _time_loop(
        num_steps,
        step,
        h0,
        [(xw.dtype, state_shape), (xw.dtype, gate_shape), (xw.dtype, state_shape)],
    )
    return states, gates, hu_h


def _gru_backward(
    d_states, d_last, states, gates, hu_h, recurrent_kernel, h0, mask, reset_after
):
    """Returns ∂L/∂(xW+b) (T, B, 3U), ∂L/∂U, ∂L/∂b_rec (3U,), ∂L/∂h0."""
    units = recurrent_kernel.shape[0]
    num_steps = tf.shape(states)[0]
    previous_states = tf.concat([h0[None], states[:-1]], axis=0)
    kernel_t = tf.transpose(recurrent_kernel)  # (3U, U)

    def step(t, dh):
        z, r, candidate = tf.split(gates[t], 3, axis=-1)
        h_prev = previous_states[t]
        dh_step, dh_skip = _split_masked(
            None if mask is None else mask[t], dh + d_states[t]
        )
        da_z = dh_step * (h_prev - candidate) * z * (1.0 - z)
        da_h = dh_step * (1.0 - z) * (1.0 - candidate * candidate)
        dh_prev = dh_skip + dh_step * z
        if reset_after:
            da_r = da_h * hu_h[t] * r * (1.0 - r)
            d_hu = tf.concat([da_z, da_r, da_h * r], axis=-1)
            dh_prev += tf.matmul(d_hu, kernel_t)
        else:
            d_rh = tf.matmul(da_h, kernel_t[2 * units :])
            da_r = d_rh * h_prev * r * (1.0 - r)
            dh_prev += d_rh * r + tf.matmul(
                tf.concat([da_z, da_r], axis=-1), kernel_t[: 2 * units]
            )
        return dh_prev, [tf.concat([da_z, da_r, da_h], axis=-1)]

    dh0, (d_xw,) = _time_loop(
        num_steps,
        step,
        d_last,
        [(states.dtype, tf.TensorShape([h0.shape[0], 3 * units]))],
        reverse=True,
    )
    r_seq = gates[..., units : 2 * units]
    if reset_after:
        d_hu = tf.concat([d_xw[..., : 2 * units], d_xw[..., 2 * units :] * r_seq], -1)
        d_kernel = tf.einsum("tbu,tbg->ug", previous_states, d_hu)
        d_bias = tf.reduce_sum(d_hu, axis=[0, 1])
    else:
        d_kernel = tf.concat(
            [
                tf.einsum("tbu,tbg->ug", previous_states, d_xw[..., : 2 * units]),
                tf.einsum("tbu,tbg->ug", r_seq * previous_states, d_xw[..., 2 * units :]),
            ],
            axis=-1,
        )
        d_bias = tf.zeros([3 * units], d_xw.dtype)
    return d_xw, d_kernel, d_bias, dh0


_gru_forward_fn = _dual(_gru_forward)
_gru_backward_fn = _dual(_gru_backward)


def gru_sequence(xw, recurrent_kernel, recurrent_bias, h0, mask=None, reset_after=True):
    """GRU states for all steps, given the input projections.

    Args:
      xw: `(T, B, 3U)`, `x W + b_in` in gate order `[z, r, h]`.
      recurrent_kernel: `U`, `(U, 3U)`.
      recurrent_bias: `(3U,)`, added to `h₋ U` (zeros when `reset_after=False`).
      h0: `(B, U)` initial state.
      mask: optional `(T, B, 1)` float 0/1.
    Returns:
      states `(T, B, U)` and the last state `(B, U)`.
    """

    @tf.custom_gradient
    def recurrence(xw, recurrent_kernel, recurrent_bias, h0):
        states, gates, hu_h = _gru_forward_fn(
            xw, recurrent_kernel, recurrent_bias, h0, mask, reset_after
        )

        def grad(d_states, d_last):
            d_states, d_last = _zeros_if_none((d_states, states), (d_last, h0))
            return _gru_backward_fn(
                d_states, d_last, states, gates, hu_h, recurrent_kernel, h0, mask, reset_after
            )

        return (states, states[-1]), grad

    return recurrence(xw, recurrent_kernel, recurrent_bias, h0)


# --------------------------------------------------------------------------- LSTM


def _lstm_forward(xw, recurrent_kernel, h0, c0, mask):
    """Returns h (T, B, U), c (T, B, U) and gates i, f, ĉ, o (T, B, 4U)."""
    num_steps = tf.shape(xw)[0]
    units = recurrent_kernel.shape[0]
    state_shape = h0.shape

    def step(t, state):
        h, c = state
        a = xw[t] + tf.matmul(h, recurrent_kernel)
        a_i, a_f, a_c, a_o = tf.split(a, 4, axis=-1)
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
            (xw.dtype, state_shape),
            (xw.dtype, state_shape),
            (xw.dtype, tf.TensorShape([h0.shape[0], 4 * units])),
        ],
    )
    return h_seq, c_seq, gates


def _lstm_backward(d_h_seq, d_h_last, d_c_last, h_seq, c_seq, gates, recurrent_kernel, h0, c0, mask):
    """Returns ∂L/∂(xW+b) (T, B, 4U), ∂L/∂U, ∂L/∂h0, ∂L/∂c0."""
    num_steps = tf.shape(h_seq)[0]
    units = recurrent_kernel.shape[0]
    previous_h = tf.concat([h0[None], h_seq[:-1]], axis=0)
    previous_c = tf.concat([c0[None], c_seq[:-1]], axis=0)
    kernel_t = tf.transpose(recurrent_kernel)  # (4U, U)

    def step(t, carry):
        dh, dc = carry
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
        dh_prev = dh_skip + tf.matmul(da, kernel_t)
        dc_prev = dc_skip + dc_total * f
        return (dh_prev, dc_prev), [da]

    (dh0, dc0), (d_xw,) = _time_loop(
        num_steps,
        step,
        (d_h_last, d_c_last),
        [(h_seq.dtype, tf.TensorShape([h0.shape[0], 4 * units]))],
        reverse=True,
    )
    d_kernel = tf.einsum("tbu,tbg->ug", previous_h, d_xw)
    return d_xw, d_kernel, dh0, dc0


_lstm_forward_fn = _dual(_lstm_forward)
_lstm_backward_fn = _dual(_lstm_backward)


def lstm_sequence(xw, recurrent_kernel, h0, c0, mask=None):
    """LSTM states for all steps, given the input projections.

    Args:
      xw: `(T, B, 4U)`, `x W + b` in gate order `[i, f, c, o]`.
      recurrent_kernel: `U`, `(U, 4U)`.
      h0, c0: `(B, U)` initial states.
      mask: optional `(T, B, 1)` float 0/1.
    Returns:
      h states `(T, B, U)`, last h `(B, U)`, last c `(B, U)`.
    """

    @tf.custom_gradient
    def recurrence(xw, recurrent_kernel, h0, c0):
        h_seq, c_seq, gates = _lstm_forward_fn(xw, recurrent_kernel, h0, c0, mask)

        def grad(d_h_seq, d_h_last, d_c_last):
            d_h_seq, d_h_last, d_c_last = _zeros_if_none(
                (d_h_seq, h_seq), (d_h_last, h0), (d_c_last, c0)
            )
            return _lstm_backward_fn(
                d_h_seq, d_h_last, d_c_last, h_seq, c_seq, gates, recurrent_kernel, h0, c0, mask
            )

        return (h_seq, h_seq[-1], c_seq[-1]), grad

    return recurrence(xw, recurrent_kernel, h0, c0)
