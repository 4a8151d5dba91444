"""The names train.py's run options take, as plain data: its flags are checked against them before
TensorFlow is imported. `zoo.distribute` and `zoo.edge` take them from here."""

STRATEGIES = ("default", "mirrored", "multi_worker")  # --strategy: tf.distribute strategies by name
MIXED_PRECISION = ("mixed_float16", "mixed_bfloat16")  # --mixed-precision: Keras dtype policies
EDGE_FORMATS = {"litert": ".tflite", "onnx": ".onnx"}  # --formats: on-device format -> file suffix
