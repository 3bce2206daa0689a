"""A typed client for the authz gRPC API, with an auto-refreshing credentials provider.

client.py       AuthzClient: one method per RPC, errors rebuilt as authz.errors exceptions
credentials.py  AccessKeyCredentials, SessionCredentials, RefreshingCredentialsProvider
web_identity.py WebIdentityCredentials: sessions from an OIDC token file (AWS_WEB_IDENTITY_*)
chain.py        where credentials come from: AUTHZ_*, then the AWS variables and profiles
_status.py      status → exception decoding (ErrorInfo / x-authz-error-code)
"""

from authz.client.client import AuthzClient, build_authorize_request
from authz.client.credentials import (
    AccessKeyCredentials,
    Credentials,
    CredentialsProvider,
    RefreshingCredentialsProvider,
    SessionCredentials,
)
from authz.client.web_identity import WebIdentityCredentials

__all__ = [
    "AccessKeyCredentials",
    "AuthzClient",
    "Credentials",
    "CredentialsProvider",
    "RefreshingCredentialsProvider",
    "SessionCredentials",
    "WebIdentityCredentials",
    "build_authorize_request",
]
