"""OpenID Connect for AssumeRoleWithWebIdentity (issue 17).

jwks.py    a JWKS document → a bounded ``KeySet`` (asymmetric keys only, ``alg`` pinned per key)
fetch.py   ``JwksCache``: JWKS over HTTPS with caching, refresh, size limit, timeout, off-path
verify.py  ``verify_token``: signature, issuer, audience, times → ``VerifiedToken``

Imports neither grpc nor cedarpy; ``authz.sts.web_identity`` puts them to work.
"""
