"""Fine-tuning a pretrained encoder (ULMFiT, Howard & Ruder 2018): per-layer rates and gradual unfreezing.

    scales = fine_tuning_rates(pretrained_layers, factor=0.4, unfreeze_steps=300)
    optimizer = LayerwiseAdam(schedule, rate_scales=scales)

`LayerwiseAdam` is Keras's Adam whose update of variable v at step t uses the learning rate

    η_v(t) = η(t) · s_v · [t ≥ t_v]

with `rate_scales[v.path] = (s_v, t_v)` (a variable not listed: s = 1, t = 0). Discriminative rates
(a lower layer learns slower) are the scales s_v; gradual unfreezing (the new head trains alone at first,
then the pretrained layers join, top first) is the start steps t_v. A held variable's Adam moments
still follow its gradient, so it joins with them warm; its value does not move (the update is η_v = 0 times
Adam's direction m̂ / (√v̂ + ε)).
"""

import keras
from keras import ops


def fine_tuning_rates(pretrained_layers, factor, unfreeze_steps):
    """`{variable path: (scale, start step)}` for the pretrained layers, given bottom first: the top one
    learns at `factor` × the head's rate from step `unfreeze_steps`, each one below at `factor` × the rate
    of the one above from `unfreeze_steps` later."""
    scales = {}
    for depth, layer in enumerate(reversed(pretrained_layers), start=1):
        for variable in layer.trainable_variables:
            scales[variable.path] = (factor**depth, unfreeze_steps * depth)
    return scales


@keras.saving.register_keras_serializable(package="zoo")
class LayerwiseAdam(keras.optimizers.Adam):
    """Adam with a learning-rate scale and a start step per variable (module docstring)."""

    def __init__(self, learning_rate=0.001, rate_scales=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rate_scales = {path: (float(scale), int(start)) for path, (scale, start) in (rate_scales or {}).items()}

    def build(self, variables):
        super().build(variables)
        # Keras's TensorFlow backend hands update_step the tf.Variable; the index gives back the Keras one.
        self._variable_scales = [self.rate_scales.get(variable.path, (1.0, 0)) for variable in variables]

    def update_step(self, gradient, variable, learning_rate):
        scale, start = self._variable_scales[self._get_variable_index(variable)]
        if (scale, start) != (1.0, 0):
            held = ops.less(self.iterations, start)
            learning_rate = ops.where(held, 0.0, ops.cast(learning_rate, "float32") * scale)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "rate_scales": {path: list(value) for path, value in self.rate_scales.items()}}
