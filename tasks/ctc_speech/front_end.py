"""The speech front end in the graph: WAV bytes decoded, a streaming log-mel spectrogram, strided
subsampling, SpecAugment.

- `decode_wavs`: encoded 16-bit PCM WAV files (a string tensor) → the zero-padded waveform batch and its
  lengths, channels averaged, other rates resampled band-limited: the spectrum of the n samples
  (rfft) cut or zero-padded to that of n' = round(n · rate' / rate) samples, inverted and scaled
  by n' / n (what `scipy.signal.resample` computes), so a client that cannot decode audio posts the file.

The layers compute features causally, so a model built on them can also run on audio
chunks with state in and out, and give the same numbers as on the whole utterance:

- `LogMelSpectrogram`: frame i covers samples `[(i + 1) h − L, (i + 1) h)` (frame
  length `L`, hop `h`, zeros before the start), so `n` samples give `n // h` frames
  and a frame needs no future sample. Per frame: `log(mel(|rfft(hann · frame)|²) + 1e-6)`,
  then per-utterance mean and variance normalisation per mel bin; with `cepstra=K`,
  the first K coefficients of the normalised frame's DCT (mel-cepstra: the spectral
  envelope without the pitch harmonics, the classic speaker-independent front end).
- `ConvSubsampling`: a strided convolution whose output `j` sees frames
  `[(j + 1) s − k, (j + 1) s)` (kernel `k`, stride `s`).

Both have `stream(inputs, states) -> (outputs, states)`, `stream_state_shapes(...)`
(the shapes of those states, without the batch) and `initial_state(batch, ...)` (zeros
of those shapes: the state before any input). They are registered with Keras under the
package "zoo" (as before they moved here), so earlier `.keras` files still load.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

FRAME_STEP = 80  # samples: the speech task's 10 ms hop at 8 kHz
FRAME_LENGTH = 200  # samples: its 25 ms frames


# ------------------------------------------------------------ WAV bytes


def decode_wavs(wavs, sample_rate):
    """(waveform float32 [batch, samples] zero-padded, length int32 [batch]) of `wavs`, a string tensor
    [batch] of encoded 16-bit PCM WAV files, at `sample_rate` (module docstring). A file that is not
    such a WAV fails with TensorFlow's message (e.g. "Header mismatch"), a 400 from the server."""

    def decode(wav):
        audio, rate = tf.audio.decode_wav(wav)  # (samples, channels) in [-1, 1], Hz
        return resample_in_graph(tf.reduce_mean(audio, axis=1), rate, sample_rate)

    rows = tf.map_fn(decode, wavs, fn_output_signature=tf.RaggedTensorSpec([None], tf.float32, ragged_rank=0))
    return rows.to_tensor(), tf.cast(rows.row_lengths(), tf.int32)


def resample_in_graph(samples, rate, target_rate):
    """1-D `samples` at `rate` Hz (a scalar tensor) at `target_rate` Hz, band-limited via the FFT."""
    count = tf.shape(samples)[0]
    new_count = tf.maximum(1, tf.cast(tf.round(tf.cast(count, tf.float64) * target_rate / tf.cast(rate, tf.float64)),
                                      tf.int32))

    def change_rate():
        spectrum = tf.signal.rfft(samples)  # count // 2 + 1 bins
        bins = new_count // 2 + 1
        # The Nyquist bin of the shorter spectrum stands for the two bins ±N/2 of the longer one, as
        # scipy.signal.resample counts it: doubled when it becomes the new end, halved when it is the old.
        shorter = new_count < count
        edge = tf.where(shorter, bins - 1, count // 2)
        factor = tf.where(shorter, tf.where(new_count % 2 == 0, 2.0, 1.0), tf.where(count % 2 == 0, 0.5, 1.0))
        spectrum = tf.pad(spectrum[:bins], [[0, tf.maximum(0, bins - tf.shape(spectrum)[0])]])
        spectrum = tf.tensor_scatter_nd_update(spectrum, [[edge]], spectrum[edge:edge + 1] * tf.complex(factor, 0.0))
        resampled = tf.signal.irfft(spectrum, fft_length=[new_count])
        return resampled * tf.cast(new_count, tf.float32) / tf.cast(count, tf.float32)

    return tf.cond(tf.logical_or(tf.equal(rate, target_rate), tf.equal(count, 0)), lambda: samples, change_rate)


# ------------------------------------------------------------ front end


@keras.saving.register_keras_serializable(package="zoo")
class LogMelSpectrogram(keras.layers.Layer):
    """`[waveform (batch, samples), lengths (batch,)]` → normalised log-mel `(batch, frames, mel_bins)`.

    Frames: see the module docstring; frame `i` is valid when `(i + 1) h ≤ length`.
    Normalisation, per utterance and mel bin, with `d_t = x_t − μ₀`:

        μ_t  = Σ d / (P + n)
        σ²_t = (P σ₀² + Σ d²) / (P + n) − μ_t²
        x̂_t  = (d_t − μ_t) / √(σ²_t + ε)

    where the sums run over the utterance's `n` valid frames (`causal=False`) or its
    valid frames up to `t` (`causal=True`, what streaming can compute), and the prior
    (`μ₀`, `σ₀²`: the training set's mean and variance, set by `adapt`) counts as
    `P = prior_frames` frames, so short or silent inputs stay finite. Padded frames
    are zero and masked. With `cepstra = K`, each normalised frame `x̂_t` (mel bins m =
    0..M−1) becomes its first K orthonormal DCT-II coefficients,
    `c_k = √((2 − δ_k0) / M) Σ_m x̂_t,m cos(π k (m + ½) / M)`: a per-frame linear map, so
    the whole-utterance and streamed outputs stay equal.
    """

    def __init__(
        self,
        sample_rate=8000,
        frame_length=200,
        frame_step=80,
        fft_length=256,
        num_mel_bins=40,
        lower_edge_hertz=20.0,
        upper_edge_hertz=None,
        causal=True,
        prior_frames=50.0,
        epsilon=1e-3,
        cepstra=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if frame_step > frame_length:
            raise ValueError(f"frame_step {frame_step} must be at most frame_length {frame_length}.")
        if cepstra is not None and not 1 <= cepstra <= num_mel_bins:
            raise ValueError(f"cepstra {cepstra}: give 1 to num_mel_bins ({num_mel_bins}), or none for log-mel.")
        self.cepstra = cepstra
        if cepstra:  # (mel bins, cepstra): the orthonormal DCT-II's first columns
            bins, order = np.arange(num_mel_bins), np.arange(cepstra)
            self.dct = np.cos(np.pi * (bins[:, None] + 0.5) * order[None, :] / num_mel_bins)
            self.dct *= np.sqrt(np.where(order == 0, 1.0, 2.0) / num_mel_bins)[None, :]
        self.sample_rate = sample_rate
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.fft_length = fft_length
        self.num_mel_bins = num_mel_bins
        self.lower_edge_hertz = lower_edge_hertz
        self.upper_edge_hertz = upper_edge_hertz or sample_rate / 2
        self.causal = causal
        self.prior_frames = prior_frames
        self.epsilon = epsilon
        self.prior_mean = self.add_weight(
            shape=(num_mel_bins,), initializer="zeros", trainable=False, name="prior_mean"
        )
        self.prior_variance = self.add_weight(
            shape=(num_mel_bins,), initializer="ones", trainable=False, name="prior_variance"
        )

    @property
    def feature_size(self):
        """Features per frame: the cepstra kept, else the mel bins."""
        return self.cepstra or self.num_mel_bins

    def _features(self, normalised):
        if not self.cepstra:
            return normalised
        return tf.tensordot(normalised, tf.constant(self.dct, normalised.dtype), 1)

    @property
    def context(self):
        """Samples before a frame's hop that it also reads."""
        return self.frame_length - self.frame_step

    def frame_lengths(self, lengths):
        return lengths // self.frame_step

    def log_mel(self, audio):
        """Unnormalised log-mel of `audio` whose first `context` samples precede frame 0."""
        frames = tf.signal.frame(audio, self.frame_length, self.frame_step)  # (batch, frames, L)
        window = tf.signal.hann_window(self.frame_length, dtype=audio.dtype)
        power = tf.math.square(tf.abs(tf.signal.rfft(frames * window, [self.fft_length])))
        mel_matrix = tf.signal.linear_to_mel_weight_matrix(
            self.num_mel_bins,
            self.fft_length // 2 + 1,
            self.sample_rate,
            self.lower_edge_hertz,
            self.upper_edge_hertz,
            dtype=audio.dtype,
        )
        return tf.math.log(tf.tensordot(power, mel_matrix, 1) + 1e-6)  # (batch, frames, mel)

    def call(self, inputs):
        waveform, lengths = inputs
        waveform = tf.convert_to_tensor(waveform, self.compute_dtype)
        audio = tf.pad(waveform, [[0, 0], [self.context, 0]])
        log_mel = self.log_mel(audio)
        mask = tf.sequence_mask(self.frame_lengths(lengths), tf.shape(log_mel)[1])
        weight = tf.cast(mask, log_mel.dtype)[..., None]  # (batch, frames, 1)
        deviation = (log_mel - self.prior_mean) * weight
        if self.causal:
            sums = (tf.cumsum(deviation, axis=1), tf.cumsum(deviation**2, axis=1), tf.cumsum(weight, axis=1))
        else:
            sums = tuple(tf.reduce_sum(v, axis=1, keepdims=True) for v in (deviation, deviation**2, weight))
        return self._features(self._normalise(deviation, *sums)) * weight

    def _normalise(self, deviation, sum_deviation, sum_square, count):
        total = self.prior_frames + count
        mean = sum_deviation / total
        variance = (self.prior_frames * self.prior_variance + sum_square) / total - mean**2
        return (deviation - mean) * tf.math.rsqrt(tf.maximum(variance, 0.0) + self.epsilon)

    def compute_mask(self, inputs, previous_mask=None):
        waveform, lengths = inputs
        # keras.ops, since Keras also calls this on symbolic inputs: the ends of the
        # frames, (i + 1) h for frame i, are the positions of waveform[:, h - 1 :: h].
        ends = ops.cumsum(ops.ones_like(waveform[:, self.frame_step - 1 :: self.frame_step]), axis=1)
        return ends * self.frame_step <= ops.cast(lengths, ends.dtype)[:, None]

    def compute_output_shape(self, input_shape):
        waveform_shape = input_shape[0]
        frames = None if waveform_shape[1] is None else waveform_shape[1] // self.frame_step
        return (waveform_shape[0], frames, self.feature_size)

    # -- streaming

    def stream_state_shapes(self):
        """Shapes, without the batch, of the `stream` states: last `context` samples, Σ d, Σ d², n."""
        return [(self.context,), (self.num_mel_bins,), (self.num_mel_bins,), (1,)]

    def initial_state(self, batch):
        """The state before any audio: zeros of `stream_state_shapes()`."""
        return [tf.zeros([batch, *shape]) for shape in self.stream_state_shapes()]

    def stream(self, chunk, states):
        """Features of a chunk of `k · frame_step` samples following `states`: `k` frames."""
        if not self.causal:
            raise ValueError(f"{self.name}: streaming needs causal=True normalisation.")
        tail, sum_deviation, sum_square, count = states
        audio = tf.concat([tail, chunk], axis=1)
        log_mel = self.log_mel(audio)  # (batch, k, mel)
        deviation = log_mel - self.prior_mean
        steps = tf.cast(tf.range(1, tf.shape(log_mel)[1] + 1), log_mel.dtype)[None, :, None]
        cumulative = (
            sum_deviation[:, None] + tf.cumsum(deviation, axis=1),
            sum_square[:, None] + tf.cumsum(deviation**2, axis=1),
            count[:, None] + steps,
        )
        features = self._features(self._normalise(deviation, *cumulative))
        # The sums up to the chunk's last frame; those before it if the chunk is empty.
        sums = [
            tf.concat([before[:, None], running], axis=1)[:, -1]
            for before, running in zip((sum_deviation, sum_square, count), cumulative)
        ]
        return features, [audio[:, tf.shape(audio)[1] - self.context :], *sums]

    # -- the prior

    def adapt(self, batches):
        """Sets the prior to the mean and variance of the valid frames of `(waveform, lengths)` batches."""
        total, total_square, count = 0.0, 0.0, 0.0
        for waveform, lengths in batches:
            audio = tf.pad(tf.convert_to_tensor(waveform, "float32"), [[0, 0], [self.context, 0]])
            log_mel = self.log_mel(audio).numpy().astype("float64")
            mask = (np.arange(log_mel.shape[1])[None] < (np.asarray(lengths) // self.frame_step)[:, None])
            valid = log_mel[mask]
            total += valid.sum(axis=0)
            total_square += (valid**2).sum(axis=0)
            count += len(valid)
        if count == 0:
            raise ValueError("LogMelSpectrogram.adapt: no valid frames in the data.")
        mean = total / count
        self.prior_mean.assign(mean.astype("float32"))
        self.prior_variance.assign(np.maximum(total_square / count - mean**2, 1e-6).astype("float32"))

    def get_config(self):
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "num_mel_bins": self.num_mel_bins,
            "lower_edge_hertz": self.lower_edge_hertz,
            "upper_edge_hertz": self.upper_edge_hertz,
            "causal": self.causal,
            "prior_frames": self.prior_frames,
            "epsilon": self.epsilon,
            "cepstra": self.cepstra,
        }


@keras.saving.register_keras_serializable(package="zoo")
class ConvSubsampling(keras.layers.Layer):
    """`(batch, frames, features)` → `(batch, ⌈frames / s⌉, filters)`: `relu(conv1d(x))`, stride `s`.

    Output `j` sees input frames `[(j + 1) s − k, (j + 1) s)` (zeros before the
    start, kernel `k ≥ s`), so it needs no future frame; the mask keeps output `j`
    when input frame `j s` is valid.
    """

    def __init__(self, filters, stride=2, kernel_size=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.stride = stride
        self.kernel_size = kernel_size or 2 * stride
        if self.kernel_size < stride:
            raise ValueError(f"kernel_size {self.kernel_size} must be at least the stride {stride}.")
        self.conv = keras.layers.Conv1D(
            filters, self.kernel_size, strides=stride, activation="relu", name="conv"
        )
        self.supports_masking = True

    @property
    def context(self):
        """Input frames before an output's own stride that it also reads."""
        return self.kernel_size - self.stride

    def build(self, input_shape):
        self.conv.build((input_shape[0], None, input_shape[-1]))

    def call(self, inputs, mask=None):
        frames = tf.shape(inputs)[1]
        right = (-frames) % self.stride
        return self.conv(tf.pad(inputs, [[0, 0], [self.context, right], [0, 0]]))

    def compute_mask(self, inputs, previous_mask=None):
        if previous_mask is None:
            return None
        return previous_mask[:, :: self.stride]  # input frames 0, s, 2s, ...: ⌈frames / s⌉

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        return (input_shape[0], None if frames is None else -(-frames // self.stride), self.filters)

    def output_lengths(self, lengths):
        return -(-lengths // self.stride)

    # -- streaming

    def stream_state_shapes(self, features):
        """Shapes, without the batch, of the `stream` states for inputs of `features`
        features: the last `context` input frames."""
        return [(self.context, features)]

    def initial_state(self, batch, features):
        """The state before any input: zeros of `stream_state_shapes(features)`."""
        return [tf.zeros([batch, *shape]) for shape in self.stream_state_shapes(features)]

    def stream(self, inputs, states):
        """Outputs for `k · stride` input frames following `states`: `k` outputs."""
        (previous,) = states
        frames = tf.concat([previous, inputs], axis=1)
        return self.conv(frames), [frames[:, tf.shape(frames)[1] - self.context :]]

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "stride": self.stride,
            "kernel_size": self.kernel_size,
        }


@keras.saving.register_keras_serializable(package="zoo")
class SpecAugment(keras.layers.Layer):
    """In training, zeroes random bands of features and random spans of frames (Park et al. 2019).

    Per utterance: `frequency_masks` bands of 0 to `frequency_width` features and
    `time_masks` spans of 0 to `time_width` frames. The identity at inference.
    """

    def __init__(self, frequency_masks=2, frequency_width=8, time_masks=2, time_width=5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.frequency_masks = frequency_masks
        self.frequency_width = frequency_width
        self.time_masks = time_masks
        self.time_width = time_width
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _spans(self, batch, size, count, width):
        """(batch, size) bool: True inside one of `count` random spans of up to `width`."""
        positions = ops.arange(size)[None]
        inside = ops.zeros((batch, size), dtype="bool")
        for _ in range(count):
            span = keras.random.randint((batch, 1), 0, width + 1, seed=self.seed_generator)
            start = ops.floor(
                keras.random.uniform((batch, 1), seed=self.seed_generator)
                * ops.cast(ops.maximum(size - span, 0) + 1, "float32")
            )
            start = ops.cast(start, "int32")
            inside = inside | ((positions >= start) & (positions < start + span))
        return inside

    def call(self, features, training=False):
        if not training:
            return features
        shape = ops.shape(features)
        batch, frames, bins = shape[0], shape[1], shape[2]
        masked_bins = self._spans(batch, bins, self.frequency_masks, self.frequency_width)
        masked_frames = self._spans(batch, frames, self.time_masks, self.time_width)
        keep = ~(masked_bins[:, None, :] | masked_frames[:, :, None])
        return features * ops.cast(keep, features.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "frequency_masks": self.frequency_masks,
            "frequency_width": self.frequency_width,
            "time_masks": self.time_masks,
            "time_width": self.time_width,
            "seed": self.seed,
        }
