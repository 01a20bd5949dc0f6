"""Open Know-Where (OKW) JSON export and import of firm profiles, in Korean and English.

OKW (Internet of Production Alliance, CC-BY-4.0; cooperation_anchors.md §2, [S28]) describes a
manufacturing facility. The machine-checkable form is the published JSON schema
(helpfulengineering/OKF-Schema `okw-schema/okw.schema.json`, draft-07 "ManufacturingFacility",
read by the tests from ../shared/standards/okw/): `name`, `location` and `facility_status`
are required, property names are snake_case, owner, contact and affiliations are Agents
(objects), typical materials are Material objects. Processes and materials are classified by
Wikipedia URL. An export of ours is a plain facility for any OKW reader; what OKW has no field
for is kept under `x-fc-*` extension keys, so our importer gets the whole profile back:

    OKW field                             from
    id                                    a UUID derived from the firm id (uuid5)
    name, description                     Facility.name / description in `lang` (romanised in an
                                          English export when there is no English text)
    facility_status                       "Active" (or what an imported document said)
    location.address.{street, district, city, country}, location.gps_coordinates ("lat,lon")
                                          Location; romanised in English (the Korean in
                                          location.x-fc-location)
    owner {name, website}                 the firm (Organisation Agent), Facility.website
    contact {name, email}                 Facility.contact_email
    affiliations [{name, x-fc-cooperative-id}]   cooperatives, named when the names are given
    equipment[i].manufacturing_process    vocab Wikipedia URL of Equipment.process
    equipment[i].materials_worked         [{material_type: Wikipedia URL}]
    equipment[i].quantity, model          Equipment.count, make_model
    manufacturing_processes               every process URL of the facility (derived)
    typical_materials                     [{material_type}] of every material (derived)
    certifications                        certificate codes (dates in x-fc-certifications)
    typical_products                      UNSPSC class names (codes in x-fc-unspsc)
    human_capacity.headcount              Facility.employees

Extensions: x-fc-firm-id, x-fc-text ({name, description} in both languages), x-fc-unspsc,
x-fc-certifications (code, last-checked, valid-until), equipment x-fc-id / x-fc-name /
x-fc-envelope-mm / x-fc-tolerance-mm / x-fc-hourly-rate-krw / x-fc-core / x-fc-process, and
the evidence: x-fc-evidence (the published kinds only), x-fc-published, x-fc-published-at. No
value is an empty string or null: what is not known is left out.

`to_okw(profile)` exports `profile.public()` only; `to_okw(profile, private=True)` (for the
firm itself) keeps unpublished evidence. `from_okw(data)` gives the profile back (round trip
equal) or raises `OkwError` naming the JSON path and why, e.g.
`equipment[2].manufacturing_process: unknown process 'x'`.

Import also reads plain OKW documents from elsewhere (`read_okw` returns the warnings): keys in
snake_case, camelCase or kebab-case; the specification's material pages (Aluminium, Steel,
Nylon) and common process pages (Lathe, Press brake) mapped to the vocabulary; equipment
without our `x-fc-*` fields gets defaults with a warning (envelope and rate typical of the
process, tolerance five times what a good shop holds); a facility-level process list with no
equipment for a process becomes equipment with defaults, with a warning; OKW fields we do not
model are kept (`Facility.okw_extra`) and written back on the next export.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from ..i18n import Catalog
from .model import EVIDENCE_KINDS, Evidence, Profile, Text
from .romanise import has_hangul, romanise, romanise_place
from .vocab import (
    CERTIFICATIONS,
    MATERIALS,
    PROCESSES,
    UNSPSC,
    VocabularyError,
    material_from_ref,
    process_from_ref,
)

TEXTS = Catalog("commons_okw")
STATUS_DEFAULT = "Active"
#: the namespace of the facility ids we derive from firm ids (uuid5)
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:factory-commons:firm")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
#: keys of our own older exports that carry nothing now
_LEGACY = {"okw_version"}


class OkwError(ValueError):
    """An OKW document we cannot read: `path` is the JSON path; `why_ko`, `why_en` say why (the
    `commons_okw` message `okw_<key>` filled with `params`), `ko` and `en` with the path before.
    `str(error)` is "path: Korean / path: English", so each half reads on its own."""

    def __init__(self, path: str, key: str, **params: object):
        ko, en = TEXTS.pair(f"okw_{key}")
        self._set(path, ko.format(**params), en.format(**params))

    def _set(self, path: str, why_ko: str, why_en: str) -> None:
        self.path, self.why_ko, self.why_en, self.why = path, why_ko, why_en, why_en
        self.ko = f"{path}: {why_ko}" if path else why_ko
        self.en = f"{path}: {why_en}" if path else why_en
        ValueError.__init__(self, f"{self.ko} / {self.en}")

    @classmethod
    def texts(cls, path: str, why_ko: str, why_en: str) -> OkwError:
        """An error whose reasons are written already (the vocabulary's, in both languages)."""
        error = cls.__new__(cls)
        error._set(path, why_ko, why_en)
        return error


def facility_id(firm_id: str) -> str:
    """The OKW `id` (a UUID) of a firm's facility: the same for the same firm id, every time."""
    return str(uuid.uuid5(ID_NAMESPACE, firm_id))


def _warn(key: str, **params: object) -> str:
    """A warning of the `commons_okw` catalog as "Korean / English"."""
    ko, en = TEXTS.pair(key)
    return f"{ko.format(**params)} / {en.format(**params)}"


# -- export -------------------------------------------------------------------------------------


def _in(text: Text | None, lang: str) -> str:
    """A text in `lang`; in English, Korean that has no English version is romanised."""
    if text is None:
        return ""
    value = text.get(lang)
    return romanise(value) if lang == "en" and has_hangul(value) else value


def _latin(value: str, lang: str, place: bool = False) -> str:
    if lang != "en" or not has_hangul(value):
        return value
    return romanise_place(value) if place else romanise(value)


def _clean(value: Any) -> Any:
    """Without None, empty strings and empty lists or objects (OKW has no 'empty' value)."""
    if isinstance(value, dict):
        out = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != "" and v != [] and v != {}}
    if isinstance(value, list):
        return [_clean(v) for v in value if v is not None and v != ""]
    return value


def _clean_top(doc: dict) -> dict:
    """The document without top-level keys left empty by the reordering above."""
    return {k: v for k, v in doc.items() if v is not None and v != [] and v != ""}


def _merge(extra: Any, ours: Any) -> Any:
    """Our fields over the kept ones: objects merged key by key, lists joined (ours first)."""
    if isinstance(extra, dict) and isinstance(ours, dict):
        out = dict(extra)
        for k, v in ours.items():
            out[k] = _merge(extra[k], v) if k in extra else v
        return out
    if isinstance(extra, list) and isinstance(ours, list):
        return [*ours, *extra]
    return ours


def to_okw(
    profile: Profile,
    lang: str = "en",
    private: bool = False,
    cooperatives: Mapping[str, Text] | None = None,
) -> dict[str, Any]:
    """The profile as an OKW Manufacturing Facility (a JSON-ready dict).

    `private=False` (default) exports `profile.public()`: evidence the firm did not publish is
    not in the document. `private=True` is for the firm's own copy (backup, moving platforms).
    `cooperatives`: cooperative id -> name, to name the affiliations (else the id is the name).
    """
    if lang not in ("ko", "en"):
        raise ValueError(f"lang: use 'ko' or 'en', not {lang!r}")
    p = profile if private else profile.public()
    f = p.facility
    loc = f.location
    names = cooperatives or {}
    name = _in(f.name, lang)
    equipment = []
    for e in f.equipment:
        item: dict[str, Any] = {
            "manufacturing_process": PROCESSES[e.process].wikipedia,
            "model": _latin(e.make_model, lang),
            "quantity": e.count,
            "materials_worked": [{"material_type": MATERIALS[m].wikipedia} for m in e.materials],
            "x-fc-process": e.process,
            "x-fc-id": e.id,
            "x-fc-name": e.name,
            "x-fc-envelope-mm": list(e.envelope_mm),
            "x-fc-tolerance-mm": e.tolerance_mm,
            "x-fc-hourly-rate-krw": e.hourly_rate_krw,
            "x-fc-core": e.core,
        }
        if item["model"] != e.make_model:
            item["x-fc-model"] = e.make_model
        equipment.append(_merge(copy.deepcopy(e.okw_extra), _clean(item)))
    processes = sorted({PROCESSES[e.process].wikipedia for e in f.equipment})
    materials = sorted({MATERIALS[m].wikipedia for e in f.equipment for m in e.materials})
    text: dict[str, Any] = {"name": f.name.model_dump()}
    if f.description is not None:
        text["description"] = f.description.model_dump()
    location: dict[str, Any] = {
        "address": {
            "street": _latin(loc.address, lang, place=True),
            "district": _latin(loc.district, lang, place=True),
            "city": _latin(loc.city, lang, place=True),
            "country": "KR",
        },
        "gps_coordinates": f"{loc.lat},{loc.lon}",
    }
    original = {"city": loc.city, "district": loc.district, "address": loc.address}
    if any(_latin(v, lang, place=True) != v for v in original.values()):
        location["x-fc-location"] = original
    evidence = {k: v for k, v in json.loads(p.evidence.model_dump_json()).items() if v is not None}
    extra = copy.deepcopy(f.okw_extra)
    ours: dict[str, Any] = {
        "id": extra.pop("id", None) or facility_id(f.firm_id),
        "name": name,
        "description": _in(f.description, lang),
        "facility_status": extra.pop("facility_status", None) or STATUS_DEFAULT,
        "location": location,
        "owner": {"name": name, "website": f.website},
        "contact": {"name": name, "email": f.contact_email} if f.contact_email else None,
        "affiliations": [
            {"name": _in(names.get(c), lang) or c, "x-fc-cooperative-id": c} for c in f.cooperatives
        ],
        "equipment": equipment,
        "manufacturing_processes": processes,
        "typical_materials": [{"material_type": m} for m in materials],
        "certifications": [c.code for c in f.certifications],
        "typical_products": [getattr(UNSPSC[u], lang) for u in f.unspsc],
        "human_capacity": {"headcount": f.employees} if f.employees is not None else None,
        "x-fc-firm-id": f.firm_id,
        "x-fc-text": text,
        "x-fc-unspsc": list(f.unspsc),
        "x-fc-certifications": [
            {
                "code": c.code,
                "last-checked": c.last_checked.isoformat(),
                "valid-until": c.valid_until.isoformat() if c.valid_until else None,
            }
            for c in f.certifications
        ],
        "x-fc-published": sorted(p.published),
        "x-fc-published-at": p.published_at.isoformat() if p.published_at else None,
    }
    doc = _merge(_clean(extra), _clean(ours))
    if evidence:  # pydantic's JSON of the evidence has no empty value to clean
        doc["x-fc-evidence"] = evidence
        doc["x-fc-published"] = doc.pop("x-fc-published", [])  # evidence, then what is published
        doc["x-fc-published-at"] = doc.pop("x-fc-published-at", None)
    return _clean_top(doc)


def dumps(profile: Profile, lang: str = "en", private: bool = False, cooperatives=None) -> str:
    """OKW JSON text (UTF-8, Korean kept as is)."""
    return json.dumps(to_okw(profile, lang, private, cooperatives), ensure_ascii=False, indent=2)


# -- import -------------------------------------------------------------------------------------


def _key(key: str) -> str:
    """A property name in the schema's style: camelCase, kebab-case and spaces to snake_case;
    extension keys (`x-...`) as they are."""
    if key.startswith("x-"):
        return key
    return _CAMEL.sub(r"_\1", key).replace("-", "_").replace(" ", "_").lower()


def _normalise(value: Any) -> Any:
    """The document with every OKW property name in snake_case (extension values untouched)."""
    if isinstance(value, dict):
        return {_key(k): (v if k.startswith("x-") else _normalise(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _get(d: dict, key: str, path: str, kind: type | tuple, required: bool = False, default=None):
    if key not in d or d[key] is None:
        if required:
            raise OkwError(f"{path}{key}", "missing")
        return default
    v = d[key]
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if not isinstance(v, kind) or (isinstance(v, bool) and kind in (int, float)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise OkwError(f"{path}{key}", "expected_type", expected=names, got=f"{type(v).__name__} {v!r}")
    return v


def _as_text(value: Any, path: str) -> dict | None:
    """A Text from an x-fc-text entry {ko, en} or a plain OKW string (Hangul → ko, else en)."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        return {"ko": value} if has_hangul(value) else {"en": value}
    raise OkwError(path, "expected_text", got=type(value).__name__)


def _date(v: Any, path: str) -> date | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise OkwError(path, "expected_date", got=repr(v))
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise OkwError(path, "not_a_date", got=repr(v)) from None


def _process(e: dict, path: str) -> str:
    """The process code from OKW's manufacturing_process URL (or a bare code) and x-fc-process."""
    code = e.get("x-fc-process")
    url = e.get("manufacturing_process") or e.get("equipment_type")
    if code is not None and code not in PROCESSES:
        raise OkwError(f"{path}x-fc-process", "unknown_process_code", code=repr(code))
    if url is None:
        if code is None:
            raise OkwError(f"{path}manufacturing_process", "missing")
        return code
    if not isinstance(url, str):
        raise OkwError(f"{path}manufacturing_process", "expected_url", got=repr(url))
    found = process_from_ref(url)
    if found is None:
        raise OkwError(
            f"{path}manufacturing_process",
            "unknown_process_url",
            url=repr(url),
            known=", ".join(sorted(_page_names(PROCESSES))),
        )
    if code is not None and code != found:
        raise OkwError(f"{path}x-fc-process", "process_mismatch", code=repr(code), url=repr(url))
    return found


def _page_names(table: dict) -> list[str]:
    return [v.wikipedia.rsplit("/", 1)[-1] for v in table.values()]


def _material_ref(m: Any, mp: str) -> str:
    if isinstance(m, str):
        return m
    if isinstance(m, dict):
        url = m.get("material_type")
        if not isinstance(url, str):
            if url is None:
                raise OkwError(f"{mp}.material_type", "missing")
            raise OkwError(f"{mp}.material_type", "expected_url", got=repr(url))
        return url
    raise OkwError(mp, "expected_object_or_string", got=type(m).__name__)


def _materials(e: dict, path: str, process: str, typical: list[str], warnings: list[str]) -> list[str]:
    items = _get(e, "materials_worked", path, list)
    out: list[str] = []
    if items is None:  # plain OKW: the facility's typical materials that the process works
        out = [m for m in typical if process in MATERIALS[m].processes]
        if not out:
            raise OkwError(f"{path}materials_worked", "no_typical_material", process=repr(process))
        warnings.append(_warn("okw_default_extension", path=f"{path}materials_worked", value=out))
        return out
    for j, m in enumerate(items):
        mp = f"{path}materials_worked[{j}]"
        url = _material_ref(m, mp)
        code = material_from_ref(url)
        if code is None:
            if url.startswith("http"):  # a material outside the vocabulary: kept out, said so
                warnings.append(_warn("okw_unknown_material", path=mp, url=repr(url)))
                continue
            raise OkwError(f"{mp}.material_type", "unknown_material_ref", url=repr(url))
        if process not in MATERIALS[code].processes:
            raise OkwError(mp, "process_material", process=repr(process), material=repr(code))
        if code not in out:
            out.append(code)
    if not out:
        raise OkwError(f"{path}materials_worked", "no_material")
    return out


def _defaults(process: str) -> dict[str, Any]:
    """Envelope, tolerance and rate an equipment entry without our fields is read with: the
    region's typical envelope and rate for the process (sample.py), tolerance five times what a
    good shop holds (the loosest the region generates)."""
    from .sample import ENVELOPE, RATE_KRW

    lo, hi = RATE_KRW[process]
    return {
        "x-fc-envelope-mm": [float(a) for a, _ in ENVELOPE[process]],
        "x-fc-tolerance-mm": round(PROCESSES[process].best_tolerance_mm * 5, 4),
        "x-fc-hourly-rate-krw": int(round((lo + hi) / 2, -3)),
    }


def _equipment(e: Any, i: int, firm_id: str, typical: list[str], warnings: list[str]) -> dict:
    path = f"equipment[{i}]."
    if not isinstance(e, dict):
        raise OkwError(path[:-1], "expected_object", got=type(e).__name__)
    process = _process(e, path)
    materials = _materials(e, path, process, typical, warnings)
    for key, value in _defaults(process).items():
        if key not in e:
            warnings.append(_warn("okw_default_extension", path=f"{path}{key}", value=value))
            e = {**e, key: value}
    env = _get(e, "x-fc-envelope-mm", path, list, required=True)
    if len(env) != 3 or not all(
        isinstance(x, int | float) and not isinstance(x, bool) and x > 0 for x in env
    ):
        raise OkwError(f"{path}x-fc-envelope-mm", "envelope", got=repr(env))
    tol = _get(e, "x-fc-tolerance-mm", path, float, required=True)
    if tol <= 0:
        raise OkwError(f"{path}x-fc-tolerance-mm", "positive", got=tol)
    if tol < PROCESSES[process].best_tolerance_mm * 0.1:
        best = PROCESSES[process].best_tolerance_mm
        raise OkwError(f"{path}x-fc-tolerance-mm", "too_tight", tol=tol, process=process, best=best)
    count = _get(e, "quantity", path, int, default=1)
    if count < 1:
        raise OkwError(f"{path}quantity", "at_least_one", got=count)
    rate = _get(e, "x-fc-hourly-rate-krw", path, int, required=True)
    if rate < 0:
        raise OkwError(f"{path}x-fc-hourly-rate-krw", "not_negative", got=rate)
    model = _get(e, "x-fc-model", path, str) or _get(e, "model", path, str, default="")
    kept = {k: v for k, v in e.items() if k not in _EQUIPMENT_READ and not k.startswith("x-fc-")}
    return {
        "id": _get(e, "x-fc-id", path, str, default=f"{firm_id}-e{i + 1}"),
        "process": process,
        "name": _get(e, "x-fc-name", path, str, default=""),
        "make_model": model,
        "count": count,
        "materials": tuple(materials),
        "envelope_mm": tuple(float(x) for x in env),
        "tolerance_mm": tol,
        "hourly_rate_krw": rate,
        "core": _get(e, "x-fc-core", path, bool, default=True),
        "okw_extra": kept,
    }


#: equipment keys the importer reads (the others are kept in Equipment.okw_extra)
_EQUIPMENT_READ = {"manufacturing_process", "materials_worked", "model", "quantity"}


def _location(doc: dict) -> dict:
    loc = _get(doc, "location", "", dict, required=True)
    addr = _get(loc, "address", "location.", dict, default={})
    original = _get(loc, "x-fc-location", "location.", dict, default={})
    gps = _get(loc, "gps_coordinates", "location.", (str, list), required=True)
    parts = gps.split(",") if isinstance(gps, str) else gps
    try:
        lat, lon = (float(x) for x in parts)
    except (TypeError, ValueError):
        raise OkwError("location.gps_coordinates", "lat_lon", got=repr(gps)) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise OkwError("location.gps_coordinates", "out_of_range", lat=lat, lon=lon)
    street = original.get("address")
    if street is None:
        street = _get(addr, "street", "location.address.", str) or _get(
            addr, "street_address", "location.address.", str, default=""
        )
    return {
        "city": original.get("city") or _get(addr, "city", "location.address.", str, required=True),
        "district": original.get("district")
        or _get(addr, "district", "location.address.", str, required=True),
        "address": street,
        "lat": lat,
        "lon": lon,
    }


def _certifications(doc: dict, today: date, warnings: list[str]) -> list[dict]:
    dated = _get(doc, "x-fc-certifications", "", list)
    if dated is None:  # plain OKW: codes only
        out = []
        for i, code in enumerate(_get(doc, "certifications", "", list, default=[])):
            path = f"certifications[{i}]"
            if not isinstance(code, str) or code not in CERTIFICATIONS:
                warnings.append(_warn("okw_unknown_certification", path=path, code=repr(code)))
                continue
            warnings.append(_warn("okw_certification_undated", path=path, code=code, day=today))
            out.append({"code": code, "last_checked": today, "valid_until": None})
        return out
    out = []
    for i, c in enumerate(dated):
        path = f"x-fc-certifications[{i}]."
        if not isinstance(c, dict):
            raise OkwError(path[:-1], "expected_object", got=type(c).__name__)
        out.append(
            {
                "code": _get(c, "code", path, str, required=True),
                "last_checked": _date(
                    _get(c, "last-checked", path, str, required=True), f"{path}last-checked"
                ),
                "valid_until": _date(c.get("valid-until"), f"{path}valid-until"),
            }
        )
    return out


def _evidence(doc: dict) -> tuple[dict, list, datetime | None]:
    ev = _get(doc, "x-fc-evidence", "", dict, default={})
    published = _get(doc, "x-fc-published", "", list, default=[])
    for i, k in enumerate(published):
        if k not in EVIDENCE_KINDS:
            raise OkwError(
                f"x-fc-published[{i}]", "unknown_kind", kind=repr(k), known=", ".join(EVIDENCE_KINDS)
            )
    try:
        Evidence.model_validate(ev)
    except ValidationError as e:
        err = e.errors()[0]
        where = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in err["loc"])
        raise OkwError(f"x-fc-evidence{where}", "invalid", msg=err["msg"]) from None
    at = doc.get("x-fc-published-at")
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except (TypeError, ValueError):
            raise OkwError("x-fc-published-at", "not_datetime", got=repr(at)) from None
    return ev, published, when


def _decode(raw: bytes) -> str:
    """JSON bytes as text: UTF-8 (with or without BOM), else CP949 (Korean Windows files)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp949")
    except UnicodeDecodeError as e:
        raise OkwError("", "encoding", byte=e.start) from None


def _affiliations(doc: dict) -> tuple[list[str], list]:
    """(cooperative ids, the other Agents kept as they are)."""
    ids, others = [], []
    for i, a in enumerate(_get(doc, "affiliations", "", list, default=[])):
        if isinstance(a, str):  # our older exports: a cooperative id
            ids.append(a)
        elif isinstance(a, dict) and isinstance(a.get("x-fc-cooperative-id"), str):
            ids.append(a["x-fc-cooperative-id"])
        elif isinstance(a, dict):
            others.append(a)
        else:
            raise OkwError(f"affiliations[{i}]", "expected_agent", got=type(a).__name__)
    return ids, others


def _facility_processes(
    doc: dict, equipment: list[dict], firm_id: str, typical: list[str], warnings: list[str]
) -> tuple[list[dict], list[str]]:
    """Equipment for the processes of the facility-level list that no equipment entry does, and
    the list's entries outside the vocabulary (kept in the extras)."""
    have = {e["process"] for e in equipment}
    added, unknown = [], []
    for i, ref in enumerate(_get(doc, "manufacturing_processes", "", list, default=[])):
        path = f"manufacturing_processes[{i}]"
        code = process_from_ref(ref) if isinstance(ref, str) else None
        if code is None:
            warnings.append(_warn("okw_unknown_process", path=path, url=repr(ref)))
            unknown.append(ref)
            continue
        if code in have:
            continue
        have.add(code)
        entry = {"manufacturing_process": PROCESSES[code].wikipedia, **_defaults(code)}
        mats = [m for m in typical if code in MATERIALS[m].processes] or [
            m for m, mat in MATERIALS.items() if code in mat.processes
        ][:1]
        entry["materials_worked"] = mats
        warnings.append(_warn("okw_process_without_equipment", path=path, process=code))
        k = len(equipment) + len(added)
        added.append(_equipment(entry, k, firm_id, typical, []))
    return added, unknown


#: a Facility field -> its key in our OKW documents (for error paths)
_DOC_KEYS = {"certifications": "x-fc-certifications", "unspsc": "x-fc-unspsc", "cooperatives": "affiliations"}

#: top-level keys the importer reads (everything else is kept in Facility.okw_extra)
_READ = {
    "name",
    "description",
    "location",
    "owner",
    "contact",
    "affiliations",
    "equipment",
    "manufacturing_processes",
    "typical_materials",
    "certifications",
    "typical_products",
    "human_capacity",
}


def _extras(doc: dict, firm_id: str, others: list, unknown_processes: list, unknown_materials: list) -> dict:
    """The OKW fields we do not model, to write back on the next export."""
    extra = {
        k: v for k, v in doc.items() if k not in _READ and not k.startswith("x-fc-") and k not in _LEGACY
    }
    if extra.get("id") == facility_id(firm_id):
        del extra["id"]
    if extra.get("facility_status") == STATUS_DEFAULT:
        del extra["facility_status"]
    for key, used in (
        ("location", {"address", "gps_coordinates", "x-fc-location"}),
        ("owner", {"name", "website"}),
        ("contact", {"name", "email"}),
        ("human_capacity", {"headcount"}),
    ):
        part = doc.get(key)
        if isinstance(part, dict):
            rest = {k: v for k, v in part.items() if k not in used}
            if key == "location" and isinstance(part.get("address"), dict):
                addr = {
                    k: v
                    for k, v in part["address"].items()
                    if k not in ("street", "street_address", "district", "city", "country")
                }
                if addr:
                    rest["address"] = addr
            if rest:
                extra[key] = rest
    if others:
        extra["affiliations"] = others
    if unknown_processes:
        extra["manufacturing_processes"] = unknown_processes
    if unknown_materials:
        extra["typical_materials"] = unknown_materials
    if "x-fc-unspsc" not in doc and doc.get("typical_products"):
        extra["typical_products"] = doc["typical_products"]
    return extra


def read_okw(
    data: dict | str | bytes, firm_id: str | None = None, today: date | None = None
) -> tuple[Profile, list[str]]:
    """A Profile from an OKW document (dict or JSON text) and the warnings of the import
    ("Korean / English", each naming the JSON path); `OkwError` names the path and why.

    `firm_id` overrides `x-fc-firm-id` (required when the document has none, e.g. a plain OKW
    facility from elsewhere). Names without `x-fc-text` become Korean when they contain
    Hangul, English otherwise. `today`: the date undated certificates are recorded as checked.
    """
    if isinstance(data, bytes):
        data = _decode(data)
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            raise OkwError("", "not_json", msg=e.msg, line=e.lineno, column=e.colno) from None
    if not isinstance(data, dict):
        raise OkwError("", "not_object", got=type(data).__name__)
    doc = _normalise(data)
    warnings: list[str] = []
    fid = firm_id or _get(doc, "x-fc-firm-id", "", str)
    if not fid:
        raise OkwError("x-fc-firm-id", "no_firm_id")
    text = _get(doc, "x-fc-text", "", dict, default={})
    name = _as_text(text.get("name", _get(doc, "name", "", str, required=True)), "name")
    if name is None:
        raise OkwError("name", "empty")
    description = _as_text(
        text.get("description", _get(doc, "description", "", str, default="")), "description"
    )
    typical, unknown_materials = [], []
    for i, m in enumerate(_get(doc, "typical_materials", "", list, default=[])):
        code = material_from_ref(_material_ref(m, f"typical_materials[{i}]"))
        if code is None:
            warnings.append(_warn("okw_unknown_material", path=f"typical_materials[{i}]", url=repr(m)))
            unknown_materials.append(m)
        elif code not in typical:
            typical.append(code)
    raw_eq = _get(doc, "equipment", "", list, default=[])
    equipment = [_equipment(e, i, fid, typical, warnings) for i, e in enumerate(raw_eq)]
    added, unknown_processes = _facility_processes(doc, equipment, fid, typical, warnings)
    equipment += added
    ids = [e["id"] for e in equipment]
    if len(set(ids)) != len(ids):
        dup = next(x for x in ids if ids.count(x) > 1)
        raise OkwError(
            f"equipment[{ids.index(dup, ids.index(dup) + 1)}].x-fc-id", "duplicate_id", id=repr(dup)
        )
    unspsc = _get(doc, "x-fc-unspsc", "", list, default=[])
    for i, u in enumerate(unspsc):
        if not (isinstance(u, str) and len(u) == 8 and u.isdigit()):
            raise OkwError(f"x-fc-unspsc[{i}]", "unspsc_digits", got=repr(u))
    cooperatives, others = _affiliations(doc)
    evidence, published, published_at = _evidence(doc)
    missing = [k for k in published if evidence.get(k) is None]
    if missing:
        raise OkwError("x-fc-published", "published_missing", kind=repr(missing[0]))
    owner = _get(doc, "owner", "", dict, default={})
    people = _get(doc, "human_capacity", "", dict, default={})
    facility = {
        "firm_id": fid,
        "name": name,
        "description": description,
        "location": _location(doc),
        "equipment": equipment,
        "certifications": _certifications(doc, today or date.today(), warnings),
        "unspsc": tuple(unspsc),
        "cooperatives": tuple(cooperatives),
        "employees": _get(people, "headcount", "human_capacity.", int)
        if "headcount" in people
        else _get(doc, "x-fc-employees", "", int),
        "contact_email": _get(
            _get(doc, "contact", "", dict, default={}), "email", "contact.", str, default=""
        ),
        "website": _get(owner, "website", "owner.", str) or _get(doc, "x-fc-website", "", str, default=""),
        "okw_extra": _extras(doc, fid, others, unknown_processes, unknown_materials),
    }
    if facility["okw_extra"]:
        warnings.append(_warn("okw_extras_kept", keys=", ".join(sorted(facility["okw_extra"]))))
    try:
        profile = Profile.model_validate(
            {"facility": facility, "evidence": evidence, "published": published, "published_at": published_at}
        )
    except ValidationError as e:
        err = e.errors()[0]
        loc = [x for x in err["loc"] if x != "facility"]
        if loc and loc[0] in _DOC_KEYS:  # the document's name of the field
            loc[0] = _DOC_KEYS[loc[0]]
        where = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc).lstrip(".")
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, VocabularyError):
            raise OkwError.texts(where, cause.why_ko, cause.why_en) from None
        raise OkwError(where, "invalid", msg=err["msg"]) from None
    return profile, warnings


def from_okw(data: dict | str | bytes, firm_id: str | None = None, today: date | None = None) -> Profile:
    """A Profile from an OKW document (see `read_okw`; the warnings are dropped)."""
    return read_okw(data, firm_id, today)[0]


def loads(text: str | bytes, firm_id: str | None = None) -> Profile:
    """A Profile from OKW JSON text."""
    return from_okw(text, firm_id)
