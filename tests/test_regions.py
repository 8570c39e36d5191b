from __future__ import annotations

import pytest

from regions.countries import countries, region_for_country
from regions.routing import database_name, new_tenant_id, region_of
from schema.errors import BadUserInputError, UnknownCountryError


def test_every_iso_country_maps_to_exactly_one_region() -> None:
    table = countries()
    assert len(table) == 249
    regions = {code: region_for_country(code) for code in table}
    assert set(regions.values()) == {"eu", "us"}


@pytest.mark.parametrize(
    ("code", "region"),
    [
        ("DE", "eu"),
        ("fr", "eu"),
        ("RU", "eu"),
        ("NG", "eu"),
        ("EG", "eu"),
        ("ZA", "eu"),
        # Western Asia goes with Europe; the rest of Asia does not.
        ("TR", "eu"),
        ("SA", "eu"),
        ("IL", "eu"),
        ("AE", "eu"),
        ("GE", "eu"),
        ("CY", "eu"),
        ("KZ", "us"),
        ("IN", "us"),
        ("JP", "us"),
        ("CN", "us"),
        ("SG", "us"),
        ("IR", "us"),
        ("US", "us"),
        ("CA", "us"),
        ("MX", "us"),
        ("BR", "us"),
        ("GL", "us"),
        ("AU", "us"),
        ("NZ", "us"),
        ("FJ", "us"),
        ("TW", "us"),
        ("AQ", "eu"),
    ],
)
def test_policy_rule(code: str, region: str) -> None:
    assert region_for_country(code) == region


@pytest.mark.parametrize("code", ["XX", "", "DEU", "D", "12", "EU"])
def test_unknown_country_is_a_clear_error(code: str) -> None:
    with pytest.raises(UnknownCountryError) as info:
        region_for_country(code)
    assert info.value.extensions["code"] == "BAD_USER_INPUT"
    assert "ISO 3166-1" in info.value.message


def test_tenant_ids_carry_their_region() -> None:
    for region in ("eu", "us"):
        tenant = new_tenant_id(region)
        assert tenant.startswith(f"{region}_")
        assert region_of(tenant) == region
        assert database_name(tenant) == f"tenant_{tenant}"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "eu",
        "xx_01m81ktk24z6hd50cy4acs6m2j",
        "eu_01M81KTK24Z6HD50CY4ACS6M2J",
        "eu_01m81ktk24z6hd50cy4acs6m2j/../x",
        "eu_01m81ktk24z6hd50cy4acs6m2",
    ],
)
def test_malformed_tenant_ids_are_refused(bad: str) -> None:
    with pytest.raises(BadUserInputError):
        region_of(bad)
