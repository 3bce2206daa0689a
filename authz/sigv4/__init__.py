"""AWS Signature Version 4, the verifying side.

``canonical`` builds what a signer signs (canonical request, string to sign, derived key),
``parse`` reads the signature material out of a request (``Authorization`` header or
presigned query), ``replay`` remembers signatures already accepted, and ``verify`` puts them
together: scope, time window, secret lookup, constant-time comparison, replay refusal.

Exceptions (``authz.errors``): ``MissingAuthenticationToken`` (no signature at all),
``IncompleteSignature`` (a part missing or malformed), ``SignatureDoesNotMatch`` (wrong
signature or scope), ``RequestExpired`` (date out of window, presigned URL expired, replay),
and whatever the secret lookup raises (``InvalidClientTokenId``, ``ExpiredToken``). Imports
neither grpc nor cedarpy.
"""

from authz.sigv4.canonical import HttpRequest
from authz.sigv4.parse import SignatureMaterial, parse_signature
from authz.sigv4.replay import ReplayGuard
from authz.sigv4.verify import SigV4Verifier

__all__ = ["HttpRequest", "ReplayGuard", "SigV4Verifier", "SignatureMaterial", "parse_signature"]
