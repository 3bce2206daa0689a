"""A smoke run of the authz load-generator scenarios (about a second of load): the spawned
``authz serve`` fixture accepts the product-created access key and every authz scenario
succeeds, including AssumeRole (no benchmark numbers are checked)."""

from __future__ import annotations

import io

from authz.bench import api_scenarios
from authz.bench.loadgen import LoadConfig, run_load
from authz.bench.scenarios import get_scenario
from authz.bench.spawn import spawn_server

SCENARIOS = ("authorize-distinct", "authorize-repeated", "authorize-batch", "assume-role", "mix")


def test_authz_scenarios_run_without_errors() -> None:
    assert api_scenarios.AUTHORIZE  # registers the scenarios and the authz servers
    config = LoadConfig(concurrency=2, connections=1, duration_s=0.2, warmup_s=0.0)
    with spawn_server("authz", pin=False) as server:
        for name in SCENARIOS:
            scenario = get_scenario(name)
            result = run_load(
                scenario.connection_factory(server.target),
                config,
                scenario=name,
                target=server.target,
                items_per_request=scenario.items_per_request,
                stream=io.StringIO(),
            )
            assert result.successes > 0, name
            assert result.errors == {}, (name, result.errors)
