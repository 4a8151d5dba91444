"""TF Serving's protos for what both APIs report: model specs, SignatureDefs, and their JSON form."""

from google.protobuf import json_format, wrappers_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2


def model_spec(model, signature_name=None):
    """The ModelSpec naming a loaded SavedModel (and the signature run, when given)."""
    spec = model_pb2.ModelSpec(name=model.name, version=wrappers_pb2.Int64Value(value=model.version))
    if signature_name is not None:
        spec.signature_name = signature_name
    return spec


def signature_def_map(model):
    """Every SignatureDef of the model, as TF Serving's model metadata lists them."""
    return get_model_metadata_pb2.SignatureDefMap(signature_def=model.signature_defs)


def model_metadata(model):
    """TF Serving's GetModelMetadataResponse as JSON: the model spec and every SignatureDef."""
    return {
        "model_spec": proto_json(model_spec(model)),
        "metadata": {"signature_def": proto_json(signature_def_map(model))},
    }


def proto_json(message):
    """A proto as TF Serving's REST API writes it: every field, with the proto's field names."""
    return json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )
