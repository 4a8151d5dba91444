"""The signature a predict request names, run on the request's decoded inputs (REST and gRPC alike).

`zoo.loading.Signature` checks the inputs, as it does for `zoo.load`'s models;
what it refuses comes back as a ServingError (400, INVALID_ARGUMENT) in its words.
"""

import tensorflow as tf

from zoo.loading import Signature
from zoo.serving.errors import ServingError


def find_signature(model, signature_name):
    """The model's `Signature` named `signature_name`; an unknown name is a ServingError (400)."""
    if signature_name not in model.signatures:
        raise ServingError(f'Serving signature name: "{signature_name}" not found in signature def')
    return Signature(model, signature_name)


def run_signature(signature, inputs):
    """The signature's numpy outputs; inputs it does not take (an empty batch too) are a ServingError."""
    try:
        return signature(inputs, refuse_empty_batch=True)
    except (ValueError, tf.errors.InvalidArgumentError) as error:
        raise ServingError(getattr(error, "message", None) or str(error)) from None
