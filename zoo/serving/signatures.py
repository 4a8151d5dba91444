"""The signature a predict request names, run on the request's decoded inputs (REST and gRPC alike).

`zoo.loading.Signature` checks the inputs, as it does for `zoo.load`'s models;
what it refuses comes back as a ServingError (400, INVALID_ARGUMENT) in its words.
"""

import tensorflow as tf

from zoo.loading import Signature
from zoo.serving.errors import ServingError

# Rows one request may carry (zoo serve --max-batch-size): what a request costs grows with
# its rows, not its bytes (5,000 short texts are a 30 KB body and gigabytes of activations).
DEFAULT_MAX_REQUEST_ROWS = 256


def find_signature(model, signature_name):
    """The model's `Signature` named `signature_name`; an unknown name is a ServingError (400)."""
    if signature_name not in model.signatures:
        raise ServingError(f'Serving signature name: "{signature_name}" not found in signature def')
    return Signature(model, signature_name)


def run_signature(signature, inputs, max_request_rows=DEFAULT_MAX_REQUEST_ROWS, batcher=None):
    """The signature's numpy outputs; inputs it does not take (an empty batch too) are a ServingError,
    and so (413) is a batch of more than `max_request_rows` rows. With a `RequestBatcher`, the
    checked request is merged with concurrent ones into one call."""
    for name, array in inputs.items():
        if array.ndim and array.shape[0] > max_request_rows:
            raise ServingError(
                f"Input {name!r} has {array.shape[0]} rows; this server takes at most {max_request_rows} "
                "per request (zoo serve --max-batch-size): send smaller batches.",
                413,
            )
    try:
        tensors = signature.check(inputs, refuse_empty_batch=True)
        return batcher.run(signature, tensors) if batcher else signature.run(tensors)
    except (ValueError, tf.errors.InvalidArgumentError) as error:
        raise ServingError(getattr(error, "message", None) or str(error)) from None
