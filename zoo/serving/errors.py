"""`ServingError`: a request `zoo serve` refuses, with the words and status the client gets."""


class ServingError(Exception):
    """A request the server refuses: `message` goes to the client as `{"error": message}`.

    `status` is the HTTP status; the gRPC API maps it to TF Serving's code
    (404: NOT_FOUND, 413: RESOURCE_EXHAUSTED, 501: UNIMPLEMENTED, 503: UNAVAILABLE,
    else INVALID_ARGUMENT).
    """

    def __init__(self, message, status=400):
        super().__init__(message)
        self.message = message
        self.status = status
