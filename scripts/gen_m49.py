"""Regenerate ``regions/data/m49.csv``: the UN M49 geoscheme for every ISO 3166-1 code.

Provenance (nothing in the table is typed by hand):

* The country list, alpha-3, numeric code and name come from ``pycountry`` 26.2.16
  (its ISO 3166-1 database: 249 alpha-2 codes).
* The M49 region / sub-region / intermediate-region names come from the UN OCHA
  "Countries & Territories Taxonomy" CSV that ``hdx-python-country`` 4.2.5 ships as
  ``hdx/location/Countries & Territories Taxonomy MVP - C&T Taxonomy.csv``. Its
  "Region Name", "Sub-region Name" and "Intermediate Region Name" columns are the
  UN Statistics Division's M49 overview.
* As a cross-check, the lowest M49 level (intermediate region, else sub-region) is
  compared with the ``UNregion`` column of ``country_converter`` 1.3.2's bundled
  ``country_data.tsv``; the only known disagreement is Nauru (NR), which
  country_converter puts in Polynesia while M49 (and the HDX table) has Micronesia.

Special cases:

* AQ (Antarctica) has no M49 region: region, sub-region and intermediate region
  are left empty; ``regions/countries.py`` routes it explicitly.
* TW (Taiwan) is not in the UN M49 table; it is assigned Asia / Eastern Asia (as
  the HDX table also does, while flagging it as not in the UN list).

Run it with a throwaway environment, never the project's::

    uv venv /tmp/m49venv
    uv pip install --python /tmp/m49venv pycountry==26.2.16 country_converter==1.3.2
    uv pip install --python /tmp/m49venv --no-deps hdx-python-country==4.2.5
    /tmp/m49venv/bin/python scripts/gen_m49.py

(``--no-deps``: only the data file is read, hdx's code is never imported.)
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import io
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pycountry

HDX_DIST = "hdx-python-country"
HDX_CSV_NAME = "Countries & Territories Taxonomy MVP - C&T Taxonomy.csv"
COCO_DIST = "country_converter"
EXPECTED_VERSIONS = {
    "pycountry": "26.2.16",
    HDX_DIST: "4.2.5",
    COCO_DIST: "1.3.2",
}

HEADER = (
    "alpha2",
    "alpha3",
    "numeric",
    "name",
    "region",
    "sub_region",
    "intermediate_region",
)
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "regions" / "data" / "m49.csv"

# Codes with no M49 region at all: left empty on purpose.
NO_M49_REGION = frozenset({"AQ"})
# Codes absent from the UN M49 table, with the assignment we make (region, sub, intermediate).
NOT_IN_UN_TABLE: dict[str, tuple[str, str, str]] = {"TW": ("Asia", "Eastern Asia", "")}
# Known disagreements of country_converter's UNregion column with M49.
COCO_KNOWN_WRONG = frozenset({"NR"})

WESTERN_ASIA = frozenset(
    [
        "AM",
        "AZ",
        "BH",
        "CY",
        "GE",
        "IQ",
        "IL",
        "JO",
        "KW",
        "LB",
        "OM",
        "QA",
        "SA",
        "PS",
        "SY",
        "TR",
        "AE",
        "YE",
    ]
)
M49_REGIONS = frozenset({"Africa", "Americas", "Asia", "Europe", "Oceania"})


@dataclass(frozen=True, slots=True)
class Row:
    alpha2: str
    alpha3: str
    numeric: str
    name: str
    region: str
    sub_region: str
    intermediate_region: str

    def as_tuple(self) -> tuple[str, ...]:
        return (
            self.alpha2,
            self.alpha3,
            self.numeric,
            self.name,
            self.region,
            self.sub_region,
            self.intermediate_region,
        )


def _dist_file(dist: str, name: str) -> Path:
    for entry in importlib.metadata.files(dist) or ():
        if entry.name == name:
            return Path(str(entry.locate()))
    raise SystemExit(f"{dist} is installed but does not ship {name!r}")


def _check_versions() -> list[str]:
    notes = []
    for dist, expected in EXPECTED_VERSIONS.items():
        found = importlib.metadata.version(dist)
        if found != expected:
            notes.append(f"warning: {dist} {found} installed, table was generated with {expected}")
    return notes


def _load_hdx(path: Path) -> dict[str, dict[str, str]]:
    by_code: dict[str, list[dict[str, str]]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as fh:
        for record in csv.DictReader(fh):
            code = record["ISO 3166-1 Alpha 2-Codes"].strip()
            if code and record["Deprecated"].strip().upper() != "Y":
                by_code[code].append(record)
    dups = {code: len(records) for code, records in by_code.items() if len(records) > 1}
    if dups:
        raise SystemExit(f"HDX table has duplicate alpha-2 rows: {dups}")
    return {code: records[0] for code, records in by_code.items()}


def _load_coco() -> dict[str, str]:
    path = _dist_file(COCO_DIST, "country_data.tsv")
    with path.open(encoding="utf-8", newline="") as fh:
        return {
            rec["ISO2"]: rec["UNregion"]
            for rec in csv.DictReader(fh, delimiter="\t")
            if rec["ISO2"]
        }


def build(hdx_csv: Path) -> tuple[list[Row], list[str]]:
    hdx = _load_hdx(hdx_csv)
    notes: list[str] = []
    rows: list[Row] = []
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_2):
        code = country.alpha_2
        record = hdx.get(code)
        if record is None:
            raise SystemExit(f"{code} ({country.name}) is missing from the HDX table")
        if record["ISO 3166-1 Alpha 3-Codes"] != country.alpha_3:
            raise SystemExit(
                f"{code}: alpha-3 {record['ISO 3166-1 Alpha 3-Codes']} != {country.alpha_3}"
            )
        m49_code = record["m49 numerical code"].strip()
        if m49_code and int(m49_code) != int(country.numeric):
            raise SystemExit(f"{code}: M49 code {m49_code} != ISO numeric {country.numeric}")
        region = record["Region Name"].strip()
        sub_region = record["Sub-region Name"].strip()
        intermediate = record["Intermediate Region Name"].strip()
        if code in NO_M49_REGION:
            if region or sub_region or intermediate:
                raise SystemExit(f"{code}: expected no M49 region, HDX has {region}/{sub_region}")
        elif code in NOT_IN_UN_TABLE:
            assigned = NOT_IN_UN_TABLE[code]
            if (region, sub_region, intermediate) != assigned:
                notes.append(
                    f"note: {code} HDX has {region}/{sub_region}/{intermediate}, using {assigned}"
                )
            region, sub_region, intermediate = assigned
            notes.append(
                f"note: {code} is not in the UN M49 table, assigned {region} / {sub_region}"
            )
        else:
            if not record["M49 English"].strip():
                raise SystemExit(
                    f"{code}: not in the UN M49 list per HDX; add it to NOT_IN_UN_TABLE"
                )
            if region not in M49_REGIONS or not sub_region:
                raise SystemExit(f"{code}: bad M49 region {region!r} / {sub_region!r}")
        rows.append(
            Row(
                alpha2=code,
                alpha3=country.alpha_3,
                numeric=country.numeric,
                name=country.name,
                region=region,
                sub_region=sub_region,
                intermediate_region=intermediate,
            )
        )
    return rows, notes


def cross_check(rows: list[Row]) -> list[str]:
    notes: list[str] = []
    codes = Counter(row.alpha2 for row in rows)
    expected = {c.alpha_2 for c in pycountry.countries}
    if set(codes) != expected or any(n != 1 for n in codes.values()):
        raise SystemExit("alpha-2 codes are not exactly pycountry's, once each")
    by_code = {row.alpha2: row for row in rows}
    western_asia = {row.alpha2 for row in rows if row.sub_region == "Western Asia"}
    if western_asia != WESTERN_ASIA:
        raise SystemExit(f"Western Asia mismatch: {sorted(western_asia ^ WESTERN_ASIA)}")
    spot = {
        "RU": ("Europe", "Eastern Europe"),
        "MX": ("Americas", "Latin America and the Caribbean"),
        "US": ("Americas", "Northern America"),
        "AU": ("Oceania", "Australia and New Zealand"),
        "TW": ("Asia", "Eastern Asia"),
        "AQ": ("", ""),
    }
    for code, (region, sub_region) in spot.items():
        got = (by_code[code].region, by_code[code].sub_region)
        if got != (region, sub_region):
            raise SystemExit(f"{code}: expected {region}/{sub_region}, got {got}")
    coco = _load_coco()
    for row in rows:
        if row.alpha2 in NO_M49_REGION or row.alpha2 not in coco:
            continue
        lowest = row.intermediate_region or row.sub_region
        # country_converter lists the Channel Islands under Northern Europe, their sub-region.
        if coco[row.alpha2] in (lowest, row.sub_region):
            continue
        if row.alpha2 in COCO_KNOWN_WRONG:
            notes.append(
                f"note: {row.alpha2} country_converter says {coco[row.alpha2]!r}, M49 {lowest!r}"
            )
            continue
        raise SystemExit(
            f"{row.alpha2}: M49 {lowest!r} disagrees with country_converter {coco[row.alpha2]!r}"
        )
    return notes


def render(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(row.as_tuple() for row in rows)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hdx-csv",
        type=Path,
        help="path to the HDX taxonomy CSV (default: from the installed wheel)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file on disk differs")
    args = parser.parse_args(argv)

    notes = _check_versions()
    hdx_csv = args.hdx_csv or _dist_file(HDX_DIST, HDX_CSV_NAME)
    rows, build_notes = build(hdx_csv)
    notes += build_notes + cross_check(rows)
    text = render(rows)
    for note in notes:
        print(note, file=sys.stderr)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date ({len(rows)} rows)")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
