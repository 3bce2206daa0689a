"""The AWS-compatible HTTP endpoint (``authz serve --aws-listen``): STS and IAM Query protocol.

Modules, one step each: ``query`` (form parameters → the IAM/STS request dictionary → the
same protobuf request the gRPC servicers take), ``xml`` (AWS XML result and error
documents), ``actions`` (the action table: which service signs it, its XML namespace, the
servicer method that runs it) and ``endpoint`` (the HTTP server: bounds, SigV4 verification,
dispatch, metrics, audit). The servicers and the backend are the gRPC edge's own, so both
protocols give the same answers from the same snapshot.
"""

from authz.server.aws.endpoint import AwsEndpoint, AwsEndpointConfig

__all__ = ["AwsEndpoint", "AwsEndpointConfig"]
