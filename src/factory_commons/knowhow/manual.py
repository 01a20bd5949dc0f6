"""A machine's manual from its know-how: its TWI instructions and its verified cases, as HTML
(a self-contained page, text escaped) and as PDF (fpdf2 with the system's Noto Sans CJK font,
the same font lookup as region/report_pdf.py, so Korean prints; no browser at run time).
Headings in Korean or English (`knowhow_ui` catalog).
"""

from __future__ import annotations

from datetime import date

from markupsafe import escape

from ..i18n import Catalog
from .cases import Case
from .instructions import Instruction

KNOWHOW_UI = Catalog("knowhow_ui")


def _t(key: str, lang: str) -> str:
    return KNOWHOW_UI.get(key, lang)


def manual_html(
    machine: str, name: str, instructions: list[Instruction], cases: list[Case], lang: str, on: date
) -> str:
    """The manual as one HTML document."""
    e = escape
    out = [
        f'<!doctype html><html lang="{e(lang)}"><head><meta charset="utf-8">'
        f"<title>{e(name)} · {e(_t('kh_manual', lang))}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #999;padding:4px;vertical-align:top}"
        "</style></head><body>",
        f"<h1>{e(name)} · {e(_t('kh_manual', lang))}</h1><p><code>{e(machine)}</code> · {on.isoformat()}</p>",
        f"<h2>{e(_t('kh_instructions', lang))}</h2>",
    ]
    if not instructions:
        out.append(f'<p id="manual-no-instructions">{e(_t("kh_none_yet", lang))}</p>')
    for ins in instructions:
        out.append(
            f'<section class="instruction" data-id="{e(ins.id)}"><h3>{e(ins.title or ins.task)} '
            f"<small>v{ins.version}</small></h3><table><tr><th>#</th><th>{e(_t('kh_important_step', lang))}</th>"
            f"<th>{e(_t('kh_key_points', lang))}</th><th>{e(_t('kh_reasons', lang))}</th></tr>"
        )
        for n, s in enumerate(ins.steps, 1):
            out.append(
                f"<tr><td>{n}</td><td>{e(s.important)}</td><td>{'<br>'.join(e(k) for k in s.key_points)}</td>"
                f"<td>{'<br>'.join(e(r) for r in s.reasons)}</td></tr>"
            )
        out.append("</table></section>")
    out.append(f"<h2>{e(_t('kh_verified_cases', lang))}</h2>")
    if not cases:
        out.append(f'<p id="manual-no-cases">{e(_t("kh_none_yet", lang))}</p>')
    for c in cases:
        out.append(
            f'<section class="case" data-id="{e(c.id)}"><h3>{e(c.title or c.symptom)}</h3>'
            f"<p><b>{e(_t('kh_symptom', lang))}</b> {e(c.symptom)}<br><b>{e(_t('kh_cause', lang))}</b> {e(c.cause)}"
            f"<br><b>{e(_t('kh_action', lang))}</b> {e(c.action)}</p></section>"
        )
    out.append("</body></html>")
    return "".join(str(x) for x in out)


def manual_pdf(
    machine: str, name: str, instructions: list[Instruction], cases: list[Case], lang: str, on: date
) -> bytes:
    """The manual as PDF bytes (raises region.report_pdf.FontMissing without a CJK font)."""
    from fpdf import FPDF

    from ..region.report_pdf import KR_FACE, cjk_font

    font = cjk_font()
    pdf = FPDF(format="A4")
    face = KR_FACE if font.suffix == ".ttc" else 0
    pdf.add_font("cjk", "", str(font), collection_font_number=face)
    pdf.add_font("cjk", "B", str(font), collection_font_number=face)  # table headings: the same face
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()

    def text(size: int, value: str, h: float = 6) -> None:
        pdf.set_font("cjk", size=size)
        pdf.multi_cell(0, h, value, new_x="LMARGIN", new_y="NEXT")

    text(16, f"{name} · {_t('kh_manual', lang)}", 9)
    text(9, f"{machine} · {on.isoformat()}")
    pdf.ln(3)
    text(13, _t("kh_instructions", lang), 8)
    if not instructions:
        text(10, _t("kh_none_yet", lang))
    for ins in instructions:
        text(11, f"{ins.title or ins.task} (v{ins.version})", 7)
        pdf.set_font("cjk", size=9)
        with pdf.table(col_widths=(8, 50, 66, 66), text_align="LEFT", line_height=5) as tb:
            head = tb.row()
            for h in ("#", _t("kh_important_step", lang), _t("kh_key_points", lang), _t("kh_reasons", lang)):
                head.cell(h)
            for n, s in enumerate(ins.steps, 1):
                row = tb.row()
                for v in (str(n), s.important, "\n".join(s.key_points), "\n".join(s.reasons)):
                    row.cell(v)
        pdf.ln(3)
    text(13, _t("kh_verified_cases", lang), 8)
    if not cases:
        text(10, _t("kh_none_yet", lang))
    for c in cases:
        text(11, c.title or c.symptom, 7)
        text(
            9,
            f"{_t('kh_symptom', lang)}: {c.symptom}\n{_t('kh_cause', lang)}: {c.cause}\n{_t('kh_action', lang)}: {c.action}",
            5,
        )
        pdf.ln(2)
    return bytes(pdf.output())
