"""Open Know-Where (OKW) JSON export and import of firm profiles, in Korean and English.

OKW v1 (Internet of Production Alliance, CC-BY-4.0; cooperation_anchors.md §2, [S28]) models a
manufacturing facility with its location, equipment, materials and certifications, and
classifies processes and materials by Wikipedia URL; no field is mandatory. We write the
OKW field names for what OKW has and keep the rest of our profile under `x-fc-*` extension
keys, so that an OKW reader sees a plain facility and our importer gets the whole profile back:

    OKW field                         from
    name, description                 Facility.name / description in `lang` (both in x-fc-text)
    location.address, gps-coordinates Location (city, district, address; "lat,lon")
    contact.email                     Facility.contact_email
    affiliations                      cooperative ids
    equipment[i].manufacturing-process  vocab Wikipedia URL of Equipment.process
    equipment[i].materials-worked     [{material-type: Wikipedia URL, name}]
    equipment[i].quantity, model      Equipment.count, make_model
    manufacturing-processes           every process URL of the facility (derived)
    typical-materials                 every material URL (derived)
    certifications                    certificate codes (dates in x-fc-certifications)
    typical-products                  UNSPSC class names (codes in x-fc-unspsc)

Extensions: x-fc-firm-id, x-fc-text, x-fc-employees, x-fc-website, x-fc-certifications
(code, last-checked, valid-until), equipment x-fc-id / x-fc-name / x-fc-envelope-mm /
x-fc-tolerance-mm / x-fc-hourly-rate-krw / x-fc-core / x-fc-process, and the evidence:
x-fc-evidence, x-fc-published, x-fc-published-at.

`to_okw(profile)` exports `profile.public()` only; `to_okw(profile, private=True)` (for the
firm itself) keeps unpublished evidence. `from_okw(data)` gives the profile back (round trip
equal) or raises `OkwError` naming the JSON path and why, e.g.
`equipment[2].manufacturing-process: unknown process 'x'`.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from .model import EVIDENCE_KINDS, Evidence, Profile
from .vocab import MATERIALS, PROCESSES, UNSPSC

OKW_VERSION = "1.0"
_PROCESS_BY_URL = {p.wikipedia: code for code, p in PROCESSES.items()}
_MATERIAL_BY_URL = {m.wikipedia: code for code, m in MATERIALS.items()}
_HANGUL = re.compile("[\uac00-\ud7a3]")


class OkwError(ValueError):
    """An OKW document we cannot read: `path` is the JSON path, the message says why."""

    def __init__(self, path: str, why: str):
        self.path, self.why = path, why
        super().__init__(f"{path}: {why}" if path else why)


# -- export -------------------------------------------------------------------------------------


def _text(t, lang: str) -> str:
    return t.get(lang) if t is not None else ""


def to_okw(profile: Profile, lang: str = "en", private: bool = False) -> dict[str, Any]:
    """The profile as an OKW Manufacturing Facility (a JSON-ready dict).

    `private=False` (default) exports `profile.public()`: evidence the firm did not publish is
    not in the document. `private=True` is for the firm's own copy (backup, moving platforms).
    """
    if lang not in ("ko", "en"):
        raise ValueError(f"lang: use 'ko' or 'en', not {lang!r}")
    p = profile if private else profile.public()
    f = p.facility
    loc = f.location
    equipment = []
    for e in f.equipment:
        equipment.append(
            {
                "manufacturing-process": PROCESSES[e.process].wikipedia,
                "x-fc-process": e.process,
                "x-fc-id": e.id,
                "x-fc-name": e.name,
                "model": e.make_model,
                "quantity": e.count,
                "materials-worked": [
                    {"material-type": MATERIALS[m].wikipedia, "name": getattr(MATERIALS[m], lang)}
                    for m in e.materials
                ],
                "x-fc-envelope-mm": list(e.envelope_mm),
                "x-fc-tolerance-mm": e.tolerance_mm,
                "x-fc-hourly-rate-krw": e.hourly_rate_krw,
                "x-fc-core": e.core,
            }
        )
    processes = sorted({PROCESSES[e.process].wikipedia for e in f.equipment})
    materials = sorted({MATERIALS[m].wikipedia for e in f.equipment for m in e.materials})
    text = {"name": f.name.model_dump()}
    if f.description is not None:
        text["description"] = f.description.model_dump()
    doc: dict[str, Any] = {
        "okw-version": OKW_VERSION,
        "name": f.name.get(lang),
        "description": _text(f.description, lang),
        "location": {
            "address": {
                "street-address": loc.address,
                "district": loc.district,
                "city": loc.city,
                "country": "KR",
            },
            "gps-coordinates": f"{loc.lat},{loc.lon}",
        },
        "contact": {"email": f.contact_email},
        "affiliations": list(f.cooperatives),
        "equipment": equipment,
        "manufacturing-processes": processes,
        "typical-materials": materials,
        "certifications": [c.code for c in f.certifications],
        "typical-products": [getattr(UNSPSC[u], lang) if u in UNSPSC else u for u in f.unspsc],
        "x-fc-firm-id": f.firm_id,
        "x-fc-text": text,
        "x-fc-employees": f.employees,
        "x-fc-website": f.website,
        "x-fc-unspsc": list(f.unspsc),
        "x-fc-certifications": [
            {
                "code": c.code,
                "last-checked": c.last_checked.isoformat(),
                "valid-until": c.valid_until.isoformat() if c.valid_until else None,
            }
            for c in f.certifications
        ],
        "x-fc-evidence": json.loads(p.evidence.model_dump_json()),
        "x-fc-published": sorted(p.published),
        "x-fc-published-at": p.published_at.isoformat() if p.published_at else None,
    }
    return doc


def dumps(profile: Profile, lang: str = "en", private: bool = False) -> str:
    """OKW JSON text (UTF-8, Korean kept as is)."""
    return json.dumps(to_okw(profile, lang, private), ensure_ascii=False, indent=2)


# -- import -------------------------------------------------------------------------------------


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
        raise OkwError(f"{path}{key}", f"expected {names}, got {type(v).__name__} {v!r}")
    return v


def _as_text(value: Any, path: str) -> dict | None:
    """A Text from an x-fc-text entry {ko, en} or a plain OKW string (Hangul → ko, else en)."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        return {"ko": value} if _HANGUL.search(value) else {"en": value}
    raise OkwError(path, f"expected a string or {{ko, en}}, got {type(value).__name__}")


def _date(v: Any, path: str) -> date | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise OkwError(path, f"expected an ISO date (YYYY-MM-DD), got {v!r}")
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise OkwError(path, f"not an ISO date (YYYY-MM-DD): {v!r}") from None


def _process(e: dict, path: str) -> str:
    """The process code from OKW's manufacturing-process URL (or a bare code) and x-fc-process."""
    code = e.get("x-fc-process")
    url = e.get("manufacturing-process")
    if code is not None and code not in PROCESSES:
        raise OkwError(f"{path}x-fc-process", f"unknown process {code!r}")
    if url is None:
        if code is None:
            raise OkwError(f"{path}manufacturing-process", "missing")
        return code
    found = _PROCESS_BY_URL.get(url) or (url if url in PROCESSES else None)
    if found is None:
        raise OkwError(
            f"{path}manufacturing-process", f"unknown process {url!r} (use a Wikipedia URL of the vocabulary)"
        )
    if code is not None and code != found:
        raise OkwError(f"{path}x-fc-process", f"{code!r} does not match manufacturing-process {url!r}")
    return found


def _materials(e: dict, path: str) -> list[str]:
    items = _get(e, "materials-worked", path, list, required=True)
    out = []
    for j, m in enumerate(items):
        mp = f"{path}materials-worked[{j}]"
        if isinstance(m, str):
            url = m
        elif isinstance(m, dict):
            url = m.get("material-type")
            if url is None:
                raise OkwError(f"{mp}.material-type", "missing")
        else:
            raise OkwError(mp, f"expected an object or a string, got {type(m).__name__}")
        code = _MATERIAL_BY_URL.get(url) or (url if url in MATERIALS else None)
        if code is None:
            raise OkwError(f"{mp}.material-type", f"unknown material {url!r}")
        out.append(code)
    if not out:
        raise OkwError(f"{path}materials-worked", "empty: equipment works at least one material")
    return out


def _equipment(e: Any, i: int, firm_id: str) -> dict:
    path = f"equipment[{i}]."
    if not isinstance(e, dict):
        raise OkwError(path[:-1], f"expected an object, got {type(e).__name__}")
    process = _process(e, path)
    materials = _materials(e, path)
    for j, m in enumerate(materials):
        if process not in MATERIALS[m].processes:
            raise OkwError(
                f"{path}materials-worked[{j}]", f"process {process!r} does not work material {m!r}"
            )
    env = _get(e, "x-fc-envelope-mm", path, list, required=True)
    if len(env) != 3 or not all(
        isinstance(x, int | float) and not isinstance(x, bool) and x > 0 for x in env
    ):
        raise OkwError(
            f"{path}x-fc-envelope-mm", f"expected three positive numbers (x, y, z in mm), got {env!r}"
        )
    tol = _get(e, "x-fc-tolerance-mm", path, float, required=True)
    if tol <= 0:
        raise OkwError(f"{path}x-fc-tolerance-mm", f"must be > 0, got {tol}")
    if tol < PROCESSES[process].best_tolerance_mm * 0.1:
        raise OkwError(
            f"{path}x-fc-tolerance-mm",
            f"±{tol} mm is far tighter than {process} holds (best ±{PROCESSES[process].best_tolerance_mm} mm)",
        )
    count = _get(e, "quantity", path, int, default=1)
    if count < 1:
        raise OkwError(f"{path}quantity", f"must be at least 1, got {count}")
    rate = _get(e, "x-fc-hourly-rate-krw", path, int, required=True)
    if rate < 0:
        raise OkwError(f"{path}x-fc-hourly-rate-krw", f"must be 0 or more, got {rate}")
    return {
        "id": _get(e, "x-fc-id", path, str, default=f"{firm_id}-e{i + 1}"),
        "process": process,
        "name": _get(e, "x-fc-name", path, str, default=""),
        "make_model": _get(e, "model", path, str, default=""),
        "count": count,
        "materials": tuple(materials),
        "envelope_mm": tuple(float(x) for x in env),
        "tolerance_mm": tol,
        "hourly_rate_krw": rate,
        "core": _get(e, "x-fc-core", path, bool, default=True),
    }


def _location(doc: dict) -> dict:
    loc = _get(doc, "location", "", dict, required=True)
    addr = _get(loc, "address", "location.", dict, default={})
    gps = _get(loc, "gps-coordinates", "location.", (str, list), required=True)
    parts = gps.split(",") if isinstance(gps, str) else gps
    try:
        lat, lon = (float(x) for x in parts)
    except (TypeError, ValueError):
        raise OkwError("location.gps-coordinates", f"expected 'lat,lon', got {gps!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise OkwError("location.gps-coordinates", f"out of range: lat {lat}, lon {lon}")
    return {
        "city": _get(addr, "city", "location.address.", str, required=True),
        "district": _get(addr, "district", "location.address.", str, required=True),
        "address": _get(addr, "street-address", "location.address.", str, default=""),
        "lat": lat,
        "lon": lon,
    }


def _certifications(doc: dict) -> list[dict]:
    dated = _get(doc, "x-fc-certifications", "", list)
    if dated is None:
        codes = _get(doc, "certifications", "", list, default=[])
        if codes:
            raise OkwError(
                "certifications",
                "certificates need the date they were last checked (x-fc-certifications: code, last-checked)",
            )
        return []
    out = []
    for i, c in enumerate(dated):
        path = f"x-fc-certifications[{i}]."
        if not isinstance(c, dict):
            raise OkwError(path[:-1], f"expected an object, got {type(c).__name__}")
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
                f"x-fc-published[{i}]", f"unknown evidence kind {k!r}; known: {', '.join(EVIDENCE_KINDS)}"
            )
    try:
        Evidence.model_validate(ev)
    except ValidationError as e:
        err = e.errors()[0]
        where = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in err["loc"])
        raise OkwError(f"x-fc-evidence{where}", err["msg"]) from None
    at = doc.get("x-fc-published-at")
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except (TypeError, ValueError):
            raise OkwError("x-fc-published-at", f"not an ISO date-time: {at!r}") from None
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
        raise OkwError("", f"not UTF-8 or CP949 text (byte {e.start})") from None


def from_okw(data: dict | str | bytes, firm_id: str | None = None) -> Profile:
    """A Profile from an OKW document (dict or JSON text); `OkwError` names the path and why.

    `firm_id` overrides `x-fc-firm-id` (required when the document has none, e.g. a plain OKW
    facility from elsewhere). Names without `x-fc-text` become Korean when they contain
    Hangul, English otherwise.
    """
    if isinstance(data, bytes):
        data = _decode(data)
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            raise OkwError("", f"not JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    if not isinstance(data, dict):
        raise OkwError("", f"expected a JSON object (an OKW facility), got {type(data).__name__}")
    doc = data
    fid = firm_id or _get(doc, "x-fc-firm-id", "", str)
    if not fid:
        raise OkwError("x-fc-firm-id", "missing: pass firm_id= for a facility without one")
    text = _get(doc, "x-fc-text", "", dict, default={})
    name = _as_text(text.get("name", _get(doc, "name", "", str, required=True)), "name")
    if name is None:
        raise OkwError("name", "empty")
    description = _as_text(
        text.get("description", _get(doc, "description", "", str, default="")), "description"
    )
    raw_eq = _get(doc, "equipment", "", list, default=[])
    equipment = [_equipment(e, i, fid) for i, e in enumerate(raw_eq)]
    ids = [e["id"] for e in equipment]
    if len(set(ids)) != len(ids):
        dup = next(x for x in ids if ids.count(x) > 1)
        raise OkwError(
            f"equipment[{ids.index(dup, ids.index(dup) + 1)}].x-fc-id", f"duplicate equipment id {dup!r}"
        )
    unspsc = _get(doc, "x-fc-unspsc", "", list, default=[])
    for i, u in enumerate(unspsc):
        if not (isinstance(u, str) and len(u) == 8 and u.isdigit()):
            raise OkwError(f"x-fc-unspsc[{i}]", f"a UNSPSC code has 8 digits, got {u!r}")
    affiliations = _get(doc, "affiliations", "", list, default=[])
    for i, a in enumerate(affiliations):
        if not isinstance(a, str):
            raise OkwError(
                f"affiliations[{i}]", f"expected a cooperative id (string), got {type(a).__name__}"
            )
    evidence, published, published_at = _evidence(doc)
    missing = [k for k in published if evidence.get(k) is None]
    if missing:
        raise OkwError("x-fc-published", f"published {missing[0]!r} but x-fc-evidence has no {missing[0]!r}")
    facility = {
        "firm_id": fid,
        "name": name,
        "description": description,
        "location": _location(doc),
        "equipment": equipment,
        "certifications": _certifications(doc),
        "unspsc": tuple(unspsc),
        "cooperatives": tuple(affiliations),
        "employees": _get(doc, "x-fc-employees", "", int),
        "contact_email": _get(
            _get(doc, "contact", "", dict, default={}), "email", "contact.", str, default=""
        ),
        "website": _get(doc, "x-fc-website", "", str, default=""),
    }
    try:
        return Profile.model_validate(
            {"facility": facility, "evidence": evidence, "published": published, "published_at": published_at}
        )
    except ValidationError as e:
        err = e.errors()[0]
        loc = [x for x in err["loc"] if x != "facility"]
        where = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc).lstrip(".")
        raise OkwError(where, err["msg"]) from None


def loads(text: str | bytes, firm_id: str | None = None) -> Profile:
    """A Profile from OKW JSON text."""
    return from_okw(text, firm_id)
