"""Open Know-Where export and import (cooperate/okw.py): the published OKW JSON schema, key style,
no empty values, romanised English exports, round trips, plain OKW documents from elsewhere,
and bad input that names the JSON path.

The schema is read from ../shared/standards/okw/okw.schema.json (helpfulengineering/OKF-Schema,
draft-07 "ManufacturingFacility"; it states no license, so it is read from there, not copied into
the project). Without the file the schema checks are skipped with that reason.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from commons_profile_example import three_machine_profile

from factory_commons.cooperate import okw
from factory_commons.cooperate.model import (
    Facility,
    Location,
    Profile,
    Text,
)
from factory_commons.cooperate.sample import generate_region

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "shared" / "standards" / "okw" / "okw.schema.json"
HANGUL = re.compile("[\uac00-\ud7a3]")
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
W = "https://en.wikipedia.org/wiki/"


@pytest.fixture(scope="module")
def validator():
    if not SCHEMA_PATH.exists():
        pytest.skip(f"the OKW schema is not at {SCHEMA_PATH} (../shared/standards/okw/ is not checked out)")
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def conformance_problems(doc: dict, lang: str, validator) -> list[str]:
    """Every way `doc` is not a clean OKW document: schema errors, property names that are not
    snake_case outside the `x-` extensions, empty strings or nulls, Hangul outside the
    extensions of an English document."""
    problems = [
        f"schema: {'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]

    def walk(value, path: str, in_extension: bool) -> None:
        if path == ".x-fc-evidence":  # pydantic's JSON of the evidence model, checked by the model
            return
        if value is None or value == "":
            problems.append(f"{path}: empty ({value!r})")
        elif isinstance(value, dict):
            for k, v in value.items():
                ext = in_extension or k.startswith("x-")
                if not ext and not SNAKE.match(k):
                    problems.append(f"{path}.{k}: not snake_case")
                walk(v, f"{path}.{k}", ext)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]", in_extension)
        elif isinstance(value, str) and lang == "en" and not in_extension and HANGUL.search(value):
            problems.append(f"{path}: Hangul in an English export: {value!r}")

    walk(doc, "", False)
    return problems


@pytest.fixture(scope="module")
def region():
    return generate_region(seed=7, firms=2000, requests=0, experts=0)


def test_the_check_finds_what_the_issue_found(validator):
    """The conformance check fails on the faults issue 27 listed (so a pass means something)."""
    bad = {
        "okw-version": "1.0",
        "name": "금천정밀",
        "location": {"address": {"street-address": "", "district": "금천구"}},
        "affiliations": ["coop-1"],
    }
    found = "\n".join(conformance_problems(bad, "en", validator))
    for words in (
        "facility_status",
        "affiliations.0",
        "okw-version: not snake_case",
        "street-address",
        "empty",
    ):
        assert words in found, words
    assert "Hangul in an English export" in found


def test_every_export_of_the_region_is_valid_okw(region, validator):
    """All 2,000 firms of the default region, Korean and English (4,000 documents, as the issue
    counted) and the private copy of every tenth: valid against the schema, snake_case, nothing
    empty, English without Hangul outside x- keys."""
    names = {"coop-01": Text(ko="서울금속가공협동조합", en="Seoul Metalworking Cooperative")}
    bad = []
    for i, p in enumerate(region.profiles):
        for lang in ("ko", "en"):
            for private in (False, True) if i % 10 == 0 else (False,):  # the firm's own copy: every 10th
                doc = okw.to_okw(p, lang, private, cooperatives=names)
                bad += [f"{p.firm_id} {lang}: {x}" for x in conformance_problems(doc, lang, validator)]
    assert bad == [], "\n".join(bad[:20])


def test_export_fields_follow_okw(region):
    p = next(x for x in region.profiles if x.facility.cooperatives and x.facility.employees)
    en, ko = okw.to_okw(p, "en"), okw.to_okw(p, "ko")
    assert en["facility_status"] == "Active" and en["id"] == okw.facility_id(p.firm_id)
    assert en["name"] == p.facility.name.en and ko["name"] == p.facility.name.ko
    assert en["human_capacity"] == {"headcount": p.facility.employees}
    assert "x-fc-employees" not in en and "x-fc-website" not in en and "okw-version" not in en
    assert en["contact"] == {"name": p.facility.name.en, "email": p.facility.contact_email}
    assert [a["x-fc-cooperative-id"] for a in en["affiliations"]] == list(p.facility.cooperatives)
    assert all(set(a) == {"name", "x-fc-cooperative-id"} for a in en["affiliations"])
    assert en["equipment"][0]["manufacturing_process"].startswith(W)
    assert set(en["manufacturing_processes"]) == {e["manufacturing_process"] for e in en["equipment"]}
    assert all(set(m) == {"material_type"} for e in en["equipment"] for m in e["materials_worked"])
    assert en["typical_materials"] and all(set(m) == {"material_type"} for m in en["typical_materials"])
    # English: romanised address, the Korean kept in the extension; Korean: as the firm wrote it
    addr = en["location"]["address"]
    assert addr["district"] == {"금천구": "Geumcheon-gu", "남동구": "Namdong-gu"}.get(
        p.facility.location.district, addr["district"]
    )
    assert not HANGUL.search(addr["street"]) and not HANGUL.search(addr["district"])
    assert en["location"]["x-fc-location"]["district"] == p.facility.location.district
    assert ko["location"]["address"]["district"] == p.facility.location.district
    assert "x-fc-location" not in ko["location"]
    site = Profile(
        facility=Facility(
            firm_id="w",
            name=Text(ko="한빛정밀(주)"),
            website="https://hanbit.example.kr",
            location=Location(
                city="Seoul",
                district="영등포구",
                address="서울특별시 영등포구 문래동 철공소 골목",
                lat=37.5,
                lon=126.9,
            ),
        )
    )
    doc = okw.to_okw(site, "en")
    assert doc["name"] == "Hanbitjeongmil Co., Ltd."  # no English name: romanised
    assert doc["owner"] == {"name": "Hanbitjeongmil Co., Ltd.", "website": "https://hanbit.example.kr"}
    assert doc["location"]["address"]["street"] == "Seoul Yeongdeungpo-gu Mullae-dong Ironworks Alley"
    assert "contact" not in doc and "description" not in doc and "equipment" not in doc


def test_round_trip_korean_and_english(region):
    for p in region.profiles[:80]:
        for lang in ("ko", "en"):
            assert okw.loads(okw.dumps(p, lang=lang, private=True)) == p
            assert okw.from_okw(okw.to_okw(p, lang)) == p.public()
    assert okw.from_okw(okw.to_okw(_three_machine_profile(), "en", private=True)) == _three_machine_profile()


def test_public_export_leaves_out_unpublished_evidence(region):
    partial = [p for p in region.profiles if p.evidence.capacity and p.published and len(p.published) < 3]
    assert partial
    for p in partial[:20]:
        doc = okw.to_okw(p)
        for kind in ("capacity", "quality", "delivery"):
            if kind not in p.published:
                assert kind not in doc["x-fc-evidence"]
        private = okw.to_okw(p, private=True)
        for k in ("capacity", "quality"):
            if k not in p.published and getattr(p.evidence, k):
                assert private["x-fc-evidence"][k]
    nothing = next(p for p in region.profiles if not p.published and p.evidence.capacity)
    doc = okw.to_okw(nothing)
    assert "x-fc-evidence" not in doc and "x-fc-published" not in doc and "x-fc-published-at" not in doc


# -- plain OKW documents from elsewhere -------------------------------------------------------------

#: A makerspace as another OKW tool would write it: the specification's camelCase names, plain
#: material pages (Aluminium, Steel, Nylon), machines without our extension fields, a
#: facility-level process list, fields we do not model.
PLAIN = {
    "name": "Mullae Makers",
    "facilityStatus": "Temporary Closure",
    "id": "3f2b8c1e-0d4a-4e7b-9a51-2c6f0e9d7b10",
    "openingHours": "Mon-Fri 10:00-19:00",
    "accessType": "Membership",
    "location": {
        "address": {"street": "Dorim-ro 128", "district": "영등포구", "city": "Seoul", "postalCode": "07294"},
        "gpsCoordinates": "37.5150,126.8950",
        "directions": "2nd floor",
    },
    "owner": {"name": "Mullae Makers", "website": "https://mullae.example.kr"},
    "humanCapacity": {"headcount": 6},
    "affiliations": [{"name": "Maker Network Korea"}],
    "equipment": [
        {
            "equipmentType": W + "Lathe",
            "manufacturingProcess": W + "Turning",
            "make": "Hwacheon",
            "model": "HiTECH 200",
            "quantity": 2,
            "materialsWorked": [{"materialType": W + "Aluminium"}, {"materialType": W + "Steel"}],
        },
        {
            "manufacturingProcess": W + "Laser_cutting",
            "materialsWorked": [{"materialType": W + "Plywood"}, W + "Steel"],
        },
    ],
    "manufacturingProcesses": [W + "Turning", W + "3D_printing", W + "Knitting"],
    "typicalMaterials": [{"materialType": W + "Nylon"}, {"materialType": W + "Aluminium"}],
    "certifications": ["ISO 9001", "GOSSIP-1"],
    "typicalProducts": ["prototypes"],
}


def test_plain_okw_imports_with_warnings_and_keeps_its_extras(validator):
    p, warnings = okw.read_okw(PLAIN, firm_id="mullae", today=date(2026, 12, 7))
    f = p.facility
    assert f.name == Text(en="Mullae Makers") and f.location.district == "영등포구"
    assert f.location.address == "Dorim-ro 128" and (f.location.lat, f.location.lon) == (37.515, 126.895)
    assert f.website == "https://mullae.example.kr" and f.employees == 6
    lathe, laser, printer = f.equipment
    assert (lathe.process, lathe.materials, lathe.count, lathe.make_model) == (
        "turning",
        ("aluminium", "steel"),
        2,
        "HiTECH 200",
    )
    assert lathe.okw_extra == {"equipment_type": W + "Lathe", "make": "Hwacheon"}
    assert (laser.process, laser.materials) == ("laser_cutting", ("steel",))  # plywood is not ours
    # the facility-level list is not dropped: 3D printing had no equipment entry
    assert printer.process == "additive_manufacturing" and printer.materials == ("polyamide", "aluminium")
    # defaults, each said: the envelope and rate typical of the process, a loose tolerance
    assert lathe.tolerance_mm == pytest.approx(0.05) and lathe.hourly_rate_krw > 0
    assert [c.code for c in f.certifications] == ["ISO 9001"]
    assert f.certifications[0].last_checked == date(2026, 12, 7)
    said = "\n".join(warnings)
    for words in (
        "equipment[0].x-fc-envelope-mm: missing, read as",
        "equipment[0].x-fc-tolerance-mm: missing, read as 0.05 (default)",
        "equipment[1].materials_worked[0]: material 'https://en.wikipedia.org/wiki/Plywood' is not in the vocabulary",
        "manufacturing_processes[1]: no equipment entry does process additive_manufacturing",
        "manufacturing_processes[2]: process 'https://en.wikipedia.org/wiki/Knitting' is not in the vocabulary",
        "certifications[1]: certificate 'GOSSIP-1' is not in the vocabulary",
        "certifications[0]: certificate ISO 9001 has no date it was last checked; dated the day of the import (2026-12-07)",
    ):
        assert words in said, words
    assert all(" / " in w and HANGUL.search(w) for w in warnings)  # Korean / English
    # the fields we do not model come back on export, and the export is valid OKW
    doc = okw.to_okw(p, "en")
    assert conformance_problems(doc, "en", validator) == []
    assert doc["facility_status"] == "Temporary Closure" and doc["id"] == PLAIN["id"]
    assert doc["opening_hours"] == PLAIN["openingHours"] and doc["access_type"] == "Membership"
    assert (
        doc["location"]["address"]["postal_code"] == "07294" and doc["location"]["directions"] == "2nd floor"
    )
    assert doc["location"]["address"]["district"] == "Yeongdeungpo-gu"
    assert {"name": "Maker Network Korea"} in doc["affiliations"]
    assert W + "Knitting" in doc["manufacturing_processes"] and doc["typical_products"] == ["prototypes"]
    assert doc["equipment"][0]["make"] == "Hwacheon" and doc["equipment"][0]["equipment_type"] == W + "Lathe"
    # and our own export of it reads back as the same profile, now without warnings of defaults
    again, second = okw.read_okw(doc)
    assert again == p
    assert not [w for w in second if "default" in w]


def test_plain_okw_in_snake_case_and_our_older_kebab_case():
    snake = {
        "name": "한빛정밀",
        "facility_status": "Active",
        "location": {"address": {"city": "Seoul", "district": "금천구"}, "gps_coordinates": "37.47,126.89"},
        "equipment": [
            {
                "manufacturing_process": W + "Milling_(machining)",
                "materials_worked": [{"material_type": W + "Aluminium_alloy"}],
                "x-fc-envelope-mm": [800, 400, 400],
                "x-fc-tolerance-mm": 0.02,
                "x-fc-hourly-rate-krw": 55000,
            }
        ],
    }
    p = okw.from_okw(json.dumps(snake, ensure_ascii=False).encode("utf-8"), firm_id="hanbit")
    assert p.facility.name.ko == "한빛정밀" and p.facility.name.en == ""
    assert p.facility.equipment[0].process == "milling" and p.facility.equipment[0].materials == (
        "aluminium",
    )
    assert p.published == frozenset() and p.evidence.capacity is None and p.facility.okw_extra == {}
    with pytest.raises(okw.OkwError, match="x-fc-firm-id: missing"):
        okw.from_okw(snake)
    cp949 = okw.loads(
        json.dumps(snake, ensure_ascii=False).encode("cp949"), firm_id="hanbit"
    )  # Korean Windows
    assert cp949 == p
    with pytest.raises(okw.OkwError, match="not UTF-8 or CP949"):
        okw.loads(b'{"name": "\xff\xff"}', firm_id="x")
    older = {  # what this project exported before issue 27
        "okw-version": "1.0",
        "name": "한빛정밀",
        "location": {
            "address": {
                "street-address": "서울 금천구",
                "district": "금천구",
                "city": "Seoul",
                "country": "KR",
            },
            "gps-coordinates": "37.47,126.89",
        },
        "affiliations": ["coop-03"],
        "equipment": [
            {
                "manufacturing-process": W + "Milling_(machining)",
                "x-fc-process": "milling",
                "materials-worked": [{"material-type": W + "Aluminium_alloy", "name": "Aluminium"}],
                "x-fc-envelope-mm": [800, 400, 400],
                "x-fc-tolerance-mm": 0.02,
                "x-fc-hourly-rate-krw": 55000,
            }
        ],
        "x-fc-firm-id": "hanbit",
        "x-fc-employees": 9,
        "x-fc-website": "https://hanbit.example.kr",
    }
    old = okw.from_okw(older)
    assert old.facility.cooperatives == ("coop-03",) and old.facility.employees == 9
    assert (
        old.facility.website == "https://hanbit.example.kr" and old.facility.location.address == "서울 금천구"
    )
    assert old.facility.okw_extra == {} and old.facility.equipment[0].okw_extra == {}


def _bad(doc: dict, path: list, value) -> dict:
    d = json.loads(json.dumps(doc))
    target = d
    for k in path[:-1]:
        target = target[k]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["equipment", 2, "x-fc-process"], "x", r"^equipment\[2\]\.x-fc-process: unknown process 'x'"),
        (
            ["equipment", 2, "x-fc-process"],
            "milling",
            r"^equipment\[2\]\.x-fc-process: 'milling' does not match",
        ),
        (
            ["equipment", 1, "manufacturing_process"],
            W + "Knitting",
            r"^equipment\[1\]\.manufacturing_process: unknown process .*Knitting.* \(use a Wikipedia URL",
        ),
        (
            ["equipment", 0, "materials_worked", 0, "material_type"],
            "unobtainium",
            r"^equipment\[0\]\.materials_worked\[0\]\.material_type: unknown material 'unobtainium'",
        ),
        (
            ["equipment", 0, "materials_worked", 0, "material_type"],
            W + "Polypropylene",
            r"^equipment\[0\]\.materials_worked\[0\]: process 'milling' does not work material 'polypropylene'",
        ),
        (["equipment", 0, "materials_worked"], [], r"^equipment\[0\]\.materials_worked: empty"),
        (["equipment", 0, "x-fc-tolerance-mm"], -0.1, r"^equipment\[0\]\.x-fc-tolerance-mm: must be > 0"),
        (
            ["equipment", 0, "x-fc-tolerance-mm"],
            "fine",
            r"^equipment\[0\]\.x-fc-tolerance-mm: expected float",
        ),
        (
            ["equipment", 0, "x-fc-envelope-mm"],
            [100, 100],
            r"^equipment\[0\]\.x-fc-envelope-mm: expected three",
        ),
        (["equipment", 0, "quantity"], 0, r"^equipment\[0\]\.quantity: must be at least 1"),
        (["location", "gps_coordinates"], "north", r"^location\.gps_coordinates: expected 'lat,lon'"),
        (["location", "gps_coordinates"], "137.5,126.9", r"^location\.gps_coordinates: out of range"),
        (["location", "address", "district"], KeyError, r"^location\.address\.district: missing"),
        (["name"], KeyError, r"^name: missing"),
        (["affiliations"], [3], r"^affiliations\[0\]: expected an Agent"),
        (
            ["x-fc-certifications", 0, "last-checked"],
            "last spring",
            r"^x-fc-certifications\[0\]\.last-checked: not an ISO date",
        ),
        (
            ["x-fc-certifications", 0, "code"],
            "GOSSIP-1",
            r"^x-fc-certifications\[0\]\.code: unknown certification 'GOSSIP-1'; closest known",
        ),
        (["x-fc-published"], ["capacity", "gossip"], r"^x-fc-published\[1\]: unknown evidence kind 'gossip'"),
        (["x-fc-evidence", "quality", "scrap_ratio"], 1.5, r"^x-fc-evidence\.quality\.scrap_ratio: "),
        (["x-fc-unspsc"], ["3128"], r"^x-fc-unspsc\[0\]: a UNSPSC code has 8 digits"),
        (
            ["x-fc-unspsc"],
            ["99999999"],
            r"^x-fc-unspsc\[0\]: unknown UNSPSC class '99999999'; closest known: 73180000",
        ),
    ],
)
def test_bad_input_names_the_path(path, value, message):
    """Each error names the JSON path and why, in English (`en`) and Korean (`ko`), each half
    starting with the path."""
    base = okw.to_okw(_three_machine_profile(), "ko", private=True)
    with pytest.raises(okw.OkwError) as caught:
        okw.from_okw(_bad(base, path, value))
    e = caught.value
    assert re.search(message, e.en), e.en
    assert e.ko.startswith(f"{e.path}: ") and HANGUL.search(e.ko) and str(e) == f"{e.ko} / {e.en}"
    assert isinstance(okw.from_okw(base), Profile)


def test_every_reason_has_a_korean_and_an_english_text():
    from factory_commons.i18n import Catalog

    texts = Catalog("commons_okw")
    keys = set(
        re.findall(
            r'OkwError\(\s*[^,()]+(?:\([^()]*\))?[^,()]*,\s*"(\w+)"', Path(okw.__file__).read_text("utf-8")
        )
    )
    assert len(keys) > 25
    assert [
        k for k in sorted(keys) if not all(texts.get(f"okw_{k}", lang) != f"okw_{k}" for lang in ("ko", "en"))
    ] == []


def test_not_json_and_not_an_object():
    with pytest.raises(okw.OkwError, match="not JSON: .* line 1"):
        okw.loads("{name: 1")
    with pytest.raises(okw.OkwError, match="expected a JSON object"):
        okw.loads("[1, 2]")
    with pytest.raises(ValueError, match="lang: use 'ko' or 'en'"):
        okw.to_okw(_three_machine_profile(), "fr")


def _three_machine_profile() -> Profile:
    return three_machine_profile(make_model="화천 HiTECH 200")
