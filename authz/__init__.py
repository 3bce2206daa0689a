"""authz: an IAM-compatible STS and authorization decision point over gRPC, on Cedar.

Importing the package first decides whether the optionally compiled decision path
(``authz.native``) runs compiled or as Python.
"""

from authz import native as _native

_native.choose()
