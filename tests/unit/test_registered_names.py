"""Tenant-scoped registered-model names: injective, reversible, and refusing a tenant with a dot."""

from __future__ import annotations

import pytest

from aifabric.registered_names import registry_name, split_registry_name


def test_names_round_trip_and_stay_apart() -> None:
    a, b = registry_name("operator-a", "traffic.v2"), registry_name("operator-b", "traffic.v2")
    assert a != b and a == "operator-a.traffic.v2"
    assert split_registry_name(a) == ("operator-a", "traffic.v2")  # the first dot splits
    assert split_registry_name("legacy") is None and split_registry_name(".x") is None


@pytest.mark.parametrize("tenant", ["", "a.b"])
def test_a_tenant_name_that_would_be_ambiguous_is_refused(tenant: str) -> None:
    with pytest.raises(ValueError, match="invalid tenant"):
        registry_name(tenant, "m")
