"""The shared vocabulary of the commons: processes (DIN 8580), materials, certifications, UNSPSC.

Profiles, requests, experts and pools all speak these codes, so a request step for `milling`
on `aluminium` meets a firm's milling centre field by field. Every entry carries Korean and
English names; processes also carry the Wikipedia page that Open Know-Where uses to classify
a process (OKW classifies processes, equipment and materials by Wikipedia URL).

The process list follows the six main groups of DIN 8580 with the common sub-processes of
small Korean metal and plastics shops. `minutes_per_unit` is a rough default for turning a
quantity into machine hours when a request does not say; `best_tolerance_mm` is what a good
shop holds with that process, used by the region generator for plausible equipment.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessGroup:
    number: int
    code: str
    ko: str
    en: str


DIN8580_GROUPS: dict[int, ProcessGroup] = {
    g.number: g
    for g in (
        ProcessGroup(1, "primary_shaping", "원형 성형(주조·사출)", "Primary shaping"),
        ProcessGroup(2, "forming", "소성 가공", "Forming"),
        ProcessGroup(3, "separating", "절삭·분리 가공", "Separating (cutting)"),
        ProcessGroup(4, "joining", "접합·조립", "Joining"),
        ProcessGroup(5, "coating", "코팅·도금", "Coating"),
        ProcessGroup(6, "changing_properties", "재료 특성 변경(열처리)", "Changing material properties"),
    )
}


@dataclass(frozen=True)
class Process:
    code: str
    group: int  # DIN 8580 main group
    ko: str
    en: str
    wikipedia: str
    best_tolerance_mm: float
    minutes_per_unit: float


_W = "https://en.wikipedia.org/wiki/"

PROCESSES: dict[str, Process] = {
    p.code: p
    for p in (
        Process("casting", 1, "주조", "Casting", _W + "Casting_(metalworking)", 0.5, 6.0),
        Process("die_casting", 1, "다이캐스팅", "Die casting", _W + "Die_casting", 0.1, 1.0),
        Process(
            "injection_moulding", 1, "사출 성형", "Injection moulding", _W + "Injection_moulding", 0.05, 0.5
        ),
        Process(
            "additive_manufacturing", 1, "3D 프린팅", "Additive manufacturing", _W + "3D_printing", 0.1, 30.0
        ),
        Process("forging", 2, "단조", "Forging", _W + "Forging", 0.5, 2.0),
        Process("stamping", 2, "프레스 가공", "Stamping", _W + "Stamping_(metalworking)", 0.05, 0.2),
        Process(
            "sheet_bending", 2, "판금 절곡", "Sheet-metal bending", _W + "Bending_(metalworking)", 0.2, 1.0
        ),
        Process("deep_drawing", 2, "딥 드로잉", "Deep drawing", _W + "Deep_drawing", 0.1, 0.5),
        Process("extrusion", 2, "압출", "Extrusion", _W + "Extrusion", 0.2, 0.5),
        Process("turning", 3, "선반 가공", "Turning", _W + "Turning", 0.01, 4.0),
        Process("milling", 3, "밀링 가공", "Milling", _W + "Milling_(machining)", 0.01, 8.0),
        Process("drilling", 3, "드릴링", "Drilling", _W + "Drilling", 0.05, 1.0),
        Process("grinding", 3, "연삭", "Grinding", _W + "Grinding_(abrasive_cutting)", 0.002, 6.0),
        Process(
            "edm",
            3,
            "방전 가공",
            "Electrical discharge machining",
            _W + "Electrical_discharge_machining",
            0.005,
            30.0,
        ),
        Process("laser_cutting", 3, "레이저 절단", "Laser cutting", _W + "Laser_cutting", 0.1, 1.5),
        Process(
            "sheet_cutting",
            3,
            "판금 절단(전단)",
            "Sheet-metal cutting (shearing)",
            _W + "Shearing_(manufacturing)",
            0.2,
            0.3,
        ),
        Process("waterjet_cutting", 3, "워터젯 절단", "Water-jet cutting", _W + "Water_jet_cutter", 0.1, 3.0),
        Process("welding", 4, "용접", "Welding", _W + "Welding", 0.5, 5.0),
        Process("brazing", 4, "브레이징", "Brazing", _W + "Brazing", 0.2, 3.0),
        Process("assembly", 4, "조립", "Assembly", _W + "Assembly_line", 0.5, 5.0),
        Process("painting", 5, "도장", "Painting", _W + "Industrial_coating", 0.5, 1.0),
        Process("powder_coating", 5, "분체 도장", "Powder coating", _W + "Powder_coating", 0.5, 1.0),
        Process("plating", 5, "도금", "Electroplating", _W + "Electroplating", 0.01, 0.5),
        Process("anodizing", 5, "아노다이징", "Anodizing", _W + "Anodizing", 0.01, 0.5),
        Process("heat_treatment", 6, "열처리", "Heat treatment", _W + "Heat_treating", 1.0, 0.5),
    )
}


@dataclass(frozen=True)
class Material:
    code: str
    ko: str
    en: str
    wikipedia: str
    processes: tuple[str, ...]  # the processes that commonly work this material


_METAL_CUT = ("turning", "milling", "drilling", "grinding", "edm", "laser_cutting", "waterjet_cutting")
_SHEET = ("stamping", "sheet_bending", "sheet_cutting", "deep_drawing", "laser_cutting", "welding")
_FINISH = ("painting", "powder_coating", "plating", "heat_treatment", "assembly", "brazing")

MATERIALS: dict[str, Material] = {
    m.code: m
    for m in (
        Material(
            "steel",
            "탄소강(SS400·S45C)",
            "Carbon steel",
            _W + "Carbon_steel",
            _METAL_CUT + _SHEET + _FINISH + ("forging", "casting", "extrusion"),
        ),
        Material(
            "stainless_steel",
            "스테인리스강(SUS304)",
            "Stainless steel",
            _W + "Stainless_steel",
            _METAL_CUT + _SHEET + ("forging", "casting", "painting", "heat_treatment", "assembly", "brazing"),
        ),
        Material(
            "aluminium",
            "알루미늄(AL6061)",
            "Aluminium",
            _W + "Aluminium_alloy",
            _METAL_CUT
            + _SHEET
            + (
                "die_casting",
                "casting",
                "extrusion",
                "anodizing",
                "powder_coating",
                "painting",
                "assembly",
                "additive_manufacturing",
            ),
        ),
        Material(
            "brass",
            "황동",
            "Brass",
            _W + "Brass",
            ("turning", "milling", "drilling", "casting", "forging", "plating", "brazing", "assembly"),
        ),
        Material(
            "copper",
            "구리",
            "Copper",
            _W + "Copper",
            ("turning", "milling", "stamping", "plating", "brazing", "edm", "assembly"),
        ),
        Material(
            "titanium",
            "티타늄",
            "Titanium",
            _W + "Titanium_alloys",
            ("turning", "milling", "grinding", "edm", "welding", "additive_manufacturing", "anodizing"),
        ),
        Material(
            "cast_iron",
            "주철",
            "Cast iron",
            _W + "Cast_iron",
            ("casting", "turning", "milling", "drilling", "grinding", "painting", "heat_treatment"),
        ),
        Material(
            "abs",
            "ABS 수지",
            "ABS plastic",
            _W + "Acrylonitrile_butadiene_styrene",
            ("injection_moulding", "additive_manufacturing", "milling", "painting", "assembly"),
        ),
        Material(
            "polycarbonate",
            "폴리카보네이트(PC)",
            "Polycarbonate",
            _W + "Polycarbonate",
            ("injection_moulding", "milling", "assembly", "laser_cutting"),
        ),
        Material(
            "polyamide",
            "나일론(PA66)",
            "Polyamide (nylon)",
            _W + "Nylon_66",
            ("injection_moulding", "additive_manufacturing", "turning", "milling", "assembly"),
        ),
        Material(
            "pom",
            "POM(아세탈)",
            "POM (acetal)",
            _W + "Polyoxymethylene",
            ("injection_moulding", "turning", "milling", "assembly"),
        ),
        Material(
            "polypropylene",
            "폴리프로필렌(PP)",
            "Polypropylene",
            _W + "Polypropylene",
            ("injection_moulding", "extrusion", "assembly"),
        ),
    )
}


@dataclass(frozen=True)
class Certification:
    code: str
    ko: str
    en: str


CERTIFICATIONS: dict[str, Certification] = {
    c.code: c
    for c in (
        Certification("ISO 9001", "ISO 9001 품질경영", "ISO 9001 quality management"),
        Certification("ISO 14001", "ISO 14001 환경경영", "ISO 14001 environmental management"),
        Certification("IATF 16949", "IATF 16949 자동차 품질경영", "IATF 16949 automotive quality"),
        Certification("AS9100", "AS9100 항공우주 품질경영", "AS9100 aerospace quality"),
        Certification("ISO 13485", "ISO 13485 의료기기 품질경영", "ISO 13485 medical devices quality"),
        Certification("KS", "KS 인증", "Korean Industrial Standards (KS) mark"),
    )
}


@dataclass(frozen=True)
class UnspscClass:
    code: str  # 8 digits: segment, family, class, commodity (00 where a level is not used)
    ko: str
    en: str


# A few families of the UNSPSC code set that small metal and plastics shops make or serve.
UNSPSC: dict[str, UnspscClass] = {
    u.code: u
    for u in (
        UnspscClass("31100000", "주물 및 주조 조립품", "Castings and casting assemblies"),
        UnspscClass("31130000", "단조품", "Forgings"),
        UnspscClass("31140000", "성형품(사출·몰딩)", "Moldings"),
        UnspscClass("31160000", "하드웨어(체결류 등)", "Hardware"),
        UnspscClass("31170000", "베어링·부싱·휠·기어", "Bearings and bushings and wheels and gears"),
        UnspscClass("31280000", "프레스 및 판금 부품", "Stampings and sheet components"),
        UnspscClass("73150000", "제조 지원 서비스", "Manufacturing support services"),
        UnspscClass("73180000", "기계 가공 및 처리 서비스", "Machining and processing services"),
    )
}


#: Other Wikipedia pages (the last part of the URL, lower case) that OKW documents from elsewhere
#: use for our processes and materials: the OKW specification's own examples name plain
#: materials (Aluminium, Steel, Nylon), makerspaces name machines (Lathe, Press brake).
PROCESS_ALIASES: dict[str, str] = {
    "milling": "milling",
    "milling_machine": "milling",
    "cnc_milling": "milling",
    "lathe": "turning",
    "turning": "turning",
    "3d_printing": "additive_manufacturing",
    "additive_manufacturing": "additive_manufacturing",
    "fused_filament_fabrication": "additive_manufacturing",
    "selective_laser_sintering": "additive_manufacturing",
    "stereolithography": "additive_manufacturing",
    "injection_molding": "injection_moulding",
    "laser_cutting": "laser_cutting",
    "laser_cutter": "laser_cutting",
    "press_brake": "sheet_bending",
    "bending_(metalworking)": "sheet_bending",
    "sheet_metal": "sheet_bending",
    "stamping_press": "stamping",
    "metal_stamping": "stamping",
    "punching": "stamping",
    "shearing": "sheet_cutting",
    "water_jet_cutter": "waterjet_cutting",
    "waterjet_cutting": "waterjet_cutting",
    "drilling": "drilling",
    "drill": "drilling",
    "grinding": "grinding",
    "grinding_machine": "grinding",
    "electric_discharge_machining": "edm",
    "welding": "welding",
    "gas_metal_arc_welding": "welding",
    "gas_tungsten_arc_welding": "welding",
    "soldering": "brazing",
    "painting": "painting",
    "spray_painting": "painting",
    "plating": "plating",
    "anodising": "anodizing",
    "heat_treatment": "heat_treatment",
    "casting": "casting",
    "sand_casting": "casting",
    "investment_casting": "casting",
    "extrusion": "extrusion",
    "forging": "forging",
    "assembly": "assembly",
}
MATERIAL_ALIASES: dict[str, str] = {
    "aluminium": "aluminium",
    "aluminum": "aluminium",
    "aluminum_alloy": "aluminium",
    "steel": "steel",
    "mild_steel": "steel",
    "low-carbon_steel": "steel",
    "stainless": "stainless_steel",
    "brass": "brass",
    "copper": "copper",
    "titanium": "titanium",
    "titanium_alloy": "titanium",
    "cast_iron": "cast_iron",
    "abs": "abs",
    "acrylonitrile_butadiene_styrene": "abs",
    "polycarbonate": "polycarbonate",
    "nylon": "polyamide",
    "polyamide": "polyamide",
    "nylon_6": "polyamide",
    "nylon_66": "polyamide",
    "polyoxymethylene": "pom",
    "acetal": "pom",
    "polypropylene": "polypropylene",
}


def _page(ref: str) -> str:
    """The page name of a Wikipedia URL (or a bare name), lower case with underscores."""
    from urllib.parse import unquote

    name = unquote(ref.strip().rstrip("/").rsplit("/", 1)[-1]).split("#", 1)[0]
    return name.replace(" ", "_").lower()


def process_from_ref(ref: str) -> str | None:
    """Our process code for a Wikipedia URL (ours or a common other page), a page name or a
    code; None when the vocabulary has no such process."""
    if ref in PROCESSES:
        return ref
    page = _page(ref)
    for code, p in PROCESSES.items():
        if _page(p.wikipedia) == page:
            return code
    return PROCESS_ALIASES.get(page) or (page if page in PROCESSES else None)


def material_from_ref(ref: str) -> str | None:
    """Our material code for a Wikipedia URL (ours or the OKW specification's plain pages such as
    Aluminium, Steel, Nylon), a page name or a code; None when the vocabulary has none."""
    if ref in MATERIALS:
        return ref
    page = _page(ref)
    for code, m in MATERIALS.items():
        if _page(m.wikipedia) == page:
            return code
    return MATERIAL_ALIASES.get(page) or (page if page in MATERIALS else None)


class VocabularyError(ValueError):
    """A code that is not in the shared vocabulary: `field`, the `code`, the `closest` known codes,
    and the message in Korean (`ko`) and English (`en`), each starting with the field.

    `str(error)` is "field: Korean / field: English", so each half reads on its own."""

    def __init__(self, field: str, kind: str, code: object, closest: tuple[str, ...]) -> None:
        from ..i18n import Catalog

        texts, terms = Catalog("commons_okw"), Catalog("commons_terms")
        self.field, self.kind, self.code, self.closest = field, kind, code, closest
        why = []
        for lang in ("ko", "en"):
            names = ((c, name_of(kind, c, lang)) for c in closest)
            shown = ", ".join(n if n.startswith(c) else f"{c} ({n})" for c, n in names) or "-"
            why.append(
                texts.get("unknown_code", lang).format(
                    kind=terms.get(f"vocab_{kind}", lang), code=repr(code), closest=shown
                )
            )
        #: the reason without the field, in Korean and English
        self.why_ko, self.why_en = why
        self.ko, self.en = (f"{field}: {w}" for w in why)
        super().__init__(f"{self.ko} / {self.en}")


#: vocabulary kind -> its table (code -> entry with `ko` and `en` names)
TABLES: dict[str, dict] = {
    "process": PROCESSES,
    "material": MATERIALS,
    "certification": CERTIFICATIONS,
    "unspsc": UNSPSC,
}


def name_of(kind: str, code: str, lang: str) -> str:
    """The Korean or English name of a vocabulary code (the code itself when unknown)."""
    entry = TABLES[kind].get(code)
    return code if entry is None else getattr(entry, "ko" if lang == "ko" else "en")


def closest(kind: str, code: object, n: int = 3) -> tuple[str, ...]:
    """The known codes of `kind` nearest to `code`: by spelling (case and spacing ignored), by
    Korean or English name, or for a number (UNSPSC) by numeric distance."""
    import difflib

    table = TABLES[kind]
    text = str(code)
    key = "".join(text.lower().split()).replace("-", "").replace("_", "")
    folded = {"".join(c.lower().split()).replace("-", "").replace("_", ""): c for c in table}
    if key in folded:
        return (folded[key],)
    found = [folded[k] for k in difflib.get_close_matches(key, list(folded), n=n, cutoff=0.6)]
    for entry in table.values():  # a Korean or English name typed instead of the code
        if text and text.lower() in (entry.ko.lower(), entry.en.lower()) and entry.code not in found:
            found.insert(0, entry.code)
    if not found and text.isdigit():
        found = sorted(table, key=lambda c: (abs(int(c) - int(text)), c))[:n]
    if not found:
        found = [folded[k] for k in difflib.get_close_matches(key, list(folded), n=n, cutoff=0.0)]
    return tuple(found[:n])


def _check(kind: str, code: object, field: str) -> str:
    if not isinstance(code, str) or code not in TABLES[kind]:
        raise VocabularyError(field, kind, code, closest(kind, code))
    return code


def check_process(code: str, field: str = "process") -> str:
    """`code` when it is a process of the vocabulary; VocabularyError naming the field otherwise."""
    return _check("process", code, field)


def check_material(code: str, field: str = "material") -> str:
    return _check("material", code, field)


def check_certification(code: str, field: str = "certification") -> str:
    return _check("certification", code, field)


def check_unspsc(code: str, field: str = "unspsc") -> str:
    return _check("unspsc", code, field)
