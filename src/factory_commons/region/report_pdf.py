"""The printable regional report as PDF (fpdf2), in Korean or English, from published cells only.

The same content as the /region/report page: programme outcomes, the maturity tables by
district and industry, the cooperation indicators beside the Seoul study's. Korean needs a CJK
font: the system's Noto Sans CJK (Debian `fonts-noto-cjk`, face "Noto Sans CJK KR" in the
collection); `FontMissing` names the paths tried when it is not installed.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from ..i18n import Catalog
from .disclosure import ALL
from .published import Published
from .report import cooperation_comparison

REGION_UI = Catalog("region_ui")
REGION = Catalog("region")

#: where the Noto Sans CJK collection is looked for (FC_CJK_FONT first), and its Korean face
FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
)
KR_FACE = 1  # index of "Noto Sans CJK KR" in the collection


class FontMissing(RuntimeError):
    """No CJK font to write Korean with."""


def cjk_font() -> Path:
    tried = [os.environ.get("FC_CJK_FONT", ""), *FONT_PATHS]
    for p in tried:
        if p and Path(p).is_file():
            return Path(p)
    raise FontMissing(
        "no Noto Sans CJK font: set FC_CJK_FONT or install fonts-noto-cjk; tried "
        + ", ".join(x for x in tried if x)
    )


def _t(key: str, lang: str, **values: object) -> str:
    for cat in (REGION_UI, REGION):
        if cat.has(key):
            text = cat.get(key, lang)
            return text.format(**values) if values else text
    return key


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def report_pdf(pub: Published, lang: str, printed_on: date) -> bytes:
    """The report as PDF bytes; a hidden cell prints as the word for "suppressed", never a value."""
    from fpdf import FPDF

    font = cjk_font()
    pdf = FPDF(orientation="L", format="A4")
    pdf.add_font("cjk", "", str(font), collection_font_number=KR_FACE if font.suffix == ".ttc" else 0)
    bold = font.with_name(font.name.replace("Regular", "Bold"))
    if bold != font and bold.is_file():
        pdf.add_font("cjk", "B", str(bold), collection_font_number=KR_FACE if bold.suffix == ".ttc" else 0)
    else:  # headings in the regular face
        pdf.add_font("cjk", "B", str(font), collection_font_number=KR_FACE if font.suffix == ".ttc" else 0)
    pdf.set_font("cjk", size=9)
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    hidden = _t("suppressed_cell", lang)

    def heading(text: str) -> None:
        pdf.set_font("cjk", size=13)
        pdf.cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=9)

    def table(rows: list[list[str]], first_width: int = 50) -> None:
        cols = max(len(r) for r in rows)
        with pdf.table(
            col_widths=(first_width, *[(pdf.epw - first_width) / max(cols - 1, 1)] * (cols - 1)),
            text_align="LEFT",
            line_height=5,
        ) as tb:
            for r in rows:
                row = tb.row()
                for x in r + [""] * (cols - len(r)):
                    row.cell(x)
        pdf.ln(3)

    pdf.set_font("cjk", size=16)
    pdf.cell(0, 12, _t("report_title", lang), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    n_hidden = sum(c.suppressed for c in pub.cells)
    pdf.multi_cell(
        0,
        5,
        f"{_t('printed_on', lang)} {printed_on.isoformat()} · "
        + _t("k_note", lang, k=pub.k, hidden=n_hidden, cells=len(pub.cells)),
    )
    pdf.ln(2)

    heading(_t("programmes_title", lang))
    rows = [
        [
            _t(k, lang)
            for k in (
                "col_programme",
                "col_budget",
                "col_firms",
                "col_effect_level",
                "col_effect_oee",
                "col_cost_level",
                "col_cost_oee",
            )
        ]
    ]
    for p in pub.programmes:
        name = p.name_ko if lang == "ko" else p.name_en
        if p.suppressed or p.level is None or p.oee is None:
            rows.append([name, f"{p.budget_krw:,}", hidden, hidden, hidden, hidden, hidden])
            continue
        cl, co = p.cost("level"), p.cost("oee_point")
        rows.append(
            [
                name,
                f"{p.budget_krw:,}",
                str(p.n_firms),
                f"{p.level.value:+.2f} [{p.level.ci_low:.2f}, {p.level.ci_high:.2f}]",
                f"{p.oee.value * 100:+.1f} pp [{p.oee.ci_low * 100:.1f}, {p.oee.ci_high * 100:.1f}]",
                f"{cl:,.0f}" if cl else "–",
                f"{co:,.0f}" if co else "–",
            ]
        )
    table(rows)
    pdf.multi_cell(0, 5, _t("programmes_method", lang))
    pdf.ln(2)

    for name, measure in (("maturity_district_industry", "score"), ("maturity_industry_size", "score")):
        cells = [c for c in pub.table(name) if c.measure == measure]
        if not cells:
            continue
        heading(f"{_t('table_' + name, lang)} · {_t(measure, lang)}")
        cols = sorted({c.column for c in cells}, key=lambda r: (r == ALL, r))
        rws = sorted({c.row for c in cells}, key=lambda r: (r == ALL, r))
        at = {(c.row, c.column): c for c in cells}
        out = [["", *[_t("total", lang) if x == ALL else _t(x, lang) for x in cols]]]
        for r in rws:
            line = [_t("total", lang) if r == ALL else _t(r, lang)]
            for col in cols:
                c = at.get((r, col))
                if c is None:
                    line.append("")
                elif c.suppressed or c.value is None:
                    line.append(hidden)
                else:
                    line.append(f"{c.value:.2f} (n={c.n_firms})")
            out.append(line)
        table(out, first_width=30)

    heading(_t("cooperation_title", lang))
    rows = [[_t(k, lang) for k in ("col_question", "col_survey", "col_platform", "col_study")]]
    for q in cooperation_comparison(pub.cells):
        s = q.survey
        sv = (
            hidden
            if s is not None and s.suppressed
            else "–"
            if s is None
            else f"{_pct(s.value)} [{_pct(s.ci_low)}, {_pct(s.ci_high)}] n={s.n_firms}"
        )
        pl = q.platform
        pv = (
            hidden
            if pl is not None and pl.suppressed
            else "–"
            if pl is None
            else f"{_pct(pl.value)} n={pl.n_firms}"
        )
        rows.append([_t("q_" + q.question, lang), sv, pv, _pct(q.published)])
    table(rows, first_width=110)
    from .questionnaire import SEOUL_STUDY_SOURCE

    pdf.multi_cell(0, 5, f"{_t('study_source', lang)}: {SEOUL_STUDY_SOURCE}")
    return bytes(pdf.output())
