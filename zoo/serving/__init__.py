"""`zoo serve`'s server: TF Serving's REST and gRPC APIs over the SavedModels under a folder.

    repository.py  which models and versions are served: loading, warm-up, polling, labels
    rest.py        the REST API: JSON codec and Flask app (`make_server`)
    grpc.py        the gRPC API: PredictionService and ModelService (`make_grpc_server`)
    signatures.py  a request's signature, run through `zoo.loading.Signature` (both APIs)
    batching.py    merging concurrent requests into one call (`zoo serve --enable-batching`)
    protos.py      TF Serving's ModelSpec, SignatureDefMap and metadata, and their JSON form
    errors.py      ServingError, what a refused request raises

The command line is `zoo serve` (`zoo/serve.py`).
"""

from zoo.serving.errors import ServingError
from zoo.serving.grpc import make_grpc_server
from zoo.serving.repository import ModelRepository
from zoo.serving.rest import create_app, make_server

__all__ = ["ModelRepository", "ServingError", "create_app", "make_grpc_server", "make_server"]
