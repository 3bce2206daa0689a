"""Where an in-process Authorize spends its time: cProfile over ``AuthzBackend.authorize`` for
distinct requests on the load generator's bench fixture (the 10-statement principal).

    .venv/bin/python benchmarks/profile_authorize.py [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time

from authz.bench import authz_server
from authz.bench.api_scenarios import authorize_request
from authz.config import load_settings
from authz.server.ports import AuthorizeParams
from authz.server.servicers.authorizer import context_from_wire
from authz.wiring import build_backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    fx = authz_server.fixture()
    settings = load_settings(
        None, repo=fx.repo, keys_dir=fx.keys, credentials_file=fx.credentials, watch=False
    )
    backend = build_backend(settings)
    info = json.loads(fx.info.read_text())
    ident = backend.authenticate_access_key(info["access_key_id"], info["secret_access_key"])
    params = [
        AuthorizeParams(r.action, r.resource, None, context_from_wire(r.context))
        for r in (authorize_request(i) for i in range(6000))
    ]
    for p in params[:1000]:  # warm: partitions compiled
        backend.authorize(ident, p)
    started = time.perf_counter()
    for p in params[1000:3000]:
        backend.authorize(ident, p)
    per_call = (time.perf_counter() - started) / 2000 * 1e6
    print(f"{per_call:.0f} µs per distinct Authorize (in-process backend)")
    profile = cProfile.Profile()
    profile.enable()
    for p in params[3000:]:
        backend.authorize(ident, p)
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
