"""An order report as CSV, HTML (with an SVG timeline) and PDF (fpdf2, the same timeline drawn).

Every renderer takes an OrderReport (report.py) and returns text or bytes: writing them somewhere
is the face's job. The HTML is one self-contained page (inline CSS and SVG, no scripts) that a
browser prints as it shows it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

from farmctl.ids import format_id
from farmctl.records.costs import money_text
from farmctl.records.report import OrderReport, timeline

if TYPE_CHECKING:
    from fpdf import FPDF  # imported when a PDF is made (to_pdf), never at CLI start-up

# One colour per part, cycling; failed attempts are drawn red with the part's colour as outline.
PALETTE = ("#2e86de", "#10ac84", "#8854d0", "#f39c12", "#0abde3", "#5f27cd", "#576574", "#ee5253")
FAILED = "#d63031"

CSV_COLUMNS = (
    "order", "customer", "project", "job", "file", "material", "copies", "copies_done", "attempts",
    "failures", "printers", "print_time_s", "filament_g", "cost", "currency",
)


def to_csv(report: OrderReport) -> str:
    """One row per part, then a total row (file = TOTAL)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    document = report.to_json()
    head = (document["order"], document["customer"], document["project"] or "")
    for job in document["jobs"]:
        writer.writerow((*head, job["job"], job["file"], job["material"] or "", job["copies"],
                         job["copies_done"], job["attempts"], len(job["failures"]), " ".join(job["printers"]),
                         job["print_time_s"], job["filament_g"], _cell(job["cost"]), document["currency"]))
    writer.writerow((*head, "", "TOTAL", "", sum(j["copies"] for j in document["jobs"]),
                     sum(j["copies_done"] for j in document["jobs"]),
                     sum(j["attempts"] for j in document["jobs"]),
                     sum(len(j["failures"]) for j in document["jobs"]), "",
                     document["print_time_s"], document["filament_g"], _cell(document["total_cost"]),
                     document["currency"]))
    return out.getvalue()


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600.0:.2f} h"


def summary_lines(report: OrderReport) -> list[tuple[str, str]]:
    """The heading facts, in the order every format prints them."""
    order = report.order
    total = report.total_cost
    lines = [
        ("Order", format_id("order", order.id)),
        ("Customer", order.customer),
        ("Project", order.project or "-"),
        ("Due", _when(order.due)),
        ("Delivered", _when(report.delivered_at) if report.delivered_at else "not yet"),
        ("Print time", _hours(sum(j.print_time_s for j in report.jobs))),
        ("Filament", f"{sum(j.filament_g for j in report.jobs):.1f} g"),
        ("Total cost", money_text(total.total, report.currency)),
    ]
    if total.missing:
        lines.append(("Missing prices", "; ".join(total.missing)))
    if report.nothing_printed:
        lines.append(("Note", "nothing has been printed for this order yet"))
    return lines


def job_rows(report: OrderReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for job in report.jobs:
        rows.append((
            format_id("job", job.job_id), job.file, f"{job.copies_done}/{job.copies}", str(len(job.runs)),
            str(len(job.failures)), ", ".join(job.printers) or "-", _hours(job.print_time_s),
            f"{job.filament_g:.1f} g", money_text(job.cost.total, report.currency),
        ))
    return rows


JOB_HEADERS = ("Part", "File", "Copies", "Attempts", "Failed", "Printers", "Print time", "Filament", "Cost")


def failure_lines(report: OrderReport) -> list[str]:
    return [
        f"{format_id('job', job.job_id)} {job.file}: {format_id('run', run.run_id)} on {run.printer_id} "
        f"{_when(run.started_at)}, {_outcome(run.state, run.error)}"
        for job in report.jobs
        for run in job.failures
    ]


def _outcome(state: str, error: str | None) -> str:
    """'cancelled: daemon stopped', not 'cancelled: cancelled: daemon stopped' (some reasons are
    recorded with the outcome already in front)."""
    reason = (error or "no reason recorded").removeprefix(f"{state}: ")
    return f"{state}: {reason}"


def to_html(report: OrderReport) -> str:
    title = f"Order {format_id('order', report.order.id)} — {report.order.customer}"
    facts = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in summary_lines(report))
    head = "".join(f"<th>{escape(h)}</th>" for h in JOB_HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in job_rows(report)
    )
    failures = failure_lines(report)
    failed = (
        "<h2>Failed attempts</h2><ul>" + "".join(f"<li>{escape(line)}</li>" for line in failures) + "</ul>"
        if failures else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ text-align: left; padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; }}
svg text {{ font-family: sans-serif; font-size: 11px; }}
</style></head>
<body>
<h1>{escape(title)}</h1>
<table class="facts">{facts}</table>
<h2>Parts</h2>
<table class="parts"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
{failed}
<h2>Timeline</h2>
{timeline_svg(report)}
<p class="generated">Generated {escape(_when(report.generated))} by farmctl.</p>
</body></html>
"""


def timeline_svg(report: OrderReport, width: int = 900) -> str:
    printers, bars, start, end = timeline(report)
    if not bars:
        return '<p class="timeline">Nothing printed yet.</p>'
    label_w, row_h, top = 110, 26, 20
    plot_w = width - label_w - 10
    height = top + row_h * len(printers) + 10
    parts = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="which copy printed on which printer when">']
    parts.append(f'<text x="{label_w}" y="12">{escape(_when(start))}</text>')
    parts.append(f'<text x="{width - 10}" y="12" text-anchor="end">{escape(_when(end))}</text>')
    for i, printer in enumerate(printers):
        y = top + i * row_h
        parts.append(f'<text x="0" y="{y + 17}">{escape(printer)}</text>')
        parts.append(f'<line x1="{label_w}" y1="{y + row_h - 2}" x2="{width - 10}" y2="{y + row_h - 2}" '
                     'stroke="#eee"/>')
    for bar in bars:
        x = label_w + bar.x0 * plot_w
        w = max(2.0, (bar.x1 - bar.x0) * plot_w)
        y = top + bar.row * row_h + 2
        colour = PALETTE[bar.job_index % len(PALETTE)]
        fill = FAILED if bar.failed else colour
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="{fill}" '
                     f'stroke="{colour}" stroke-width="2"><title>{escape(bar.label)}'
                     f'{" (failed)" if bar.failed else ""}</title></rect>')
        if w > 40:
            parts.append(f'<text x="{x + 4:.1f}" y="{y + 14}" fill="white">{escape(bar.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _latin1(text: str) -> str:
    """fpdf2's core fonts cover Latin-1; anything else prints as '?' rather than failing the report."""
    return text.replace("—", "-").encode("latin-1", "replace").decode("latin-1")


def to_pdf(report: OrderReport) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"Order {format_id('order', report.order.id)} - {report.order.customer}"),
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for key, value in summary_lines(report):
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(35, 6, _latin1(key))
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 6, _fit(value, pdf.w - pdf.l_margin - pdf.r_margin - 35, 10), new_x="LMARGIN",
                 new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "Parts", new_x="LMARGIN", new_y="NEXT")
    # Plain cells, not fpdf2's table or multi_cell: those measure every word for line breaks, seconds
    # for an order of a few hundred parts (bench/records.py). A cell too narrow cuts its text.
    pdf.set_font("Helvetica", "B", 9)
    _pdf_row(pdf, JOB_HEADERS)
    pdf.set_font("Helvetica", "", 9)
    for row in job_rows(report):
        _pdf_row(pdf, row)
    failures = failure_lines(report)
    if failures:
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, "Failed attempts", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)
        width = pdf.w - pdf.l_margin - pdf.r_margin
        for line in failures:
            pdf.cell(0, 4.5, _fit(f"- {line}", width, 8), new_x="LMARGIN", new_y="NEXT")
    _pdf_timeline(pdf, report)
    return bytes(pdf.output())


PDF_WIDTHS = (14.0, 62.0, 16.0, 17.0, 14.0, 62.0, 22.0, 22.0, 38.0)  # mm, landscape A4 minus margins


def _fit(text: str, width_mm: float, size_pt: float = 9) -> str:
    """Latin-1 text cut to about what fits in `width_mm` at Helvetica `size_pt` (an average glyph is
    about half the font size wide: 0.5 pt x 0.3528 mm/pt); cheaper than measuring every string."""
    limit = max(4, int(width_mm / (size_pt * 0.5 * 0.3528)))
    text = _latin1(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pdf_row(pdf: FPDF, cells: Sequence[str]) -> None:
    for cell, width in zip(cells, PDF_WIDTHS, strict=True):
        pdf.cell(width, 5.5, _fit(cell, width - 1), border="B")
    pdf.ln(5.5)


def _pdf_timeline(pdf: FPDF, report: OrderReport) -> None:
    printers, bars, start, end = timeline(report)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "Timeline", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    if not bars:
        pdf.cell(0, 6, "Nothing printed yet.", new_x="LMARGIN", new_y="NEXT")
        return
    row_h, label_w = 7.0, 30.0
    if pdf.get_y() + 8 + row_h * len(printers) > pdf.h - 12:
        pdf.add_page()
    left = pdf.l_margin
    plot_w = pdf.w - pdf.l_margin - pdf.r_margin - label_w
    top = pdf.get_y() + 5
    pdf.text(left + label_w, top - 1, _latin1(_when(start)))
    pdf.text(left + label_w + plot_w - 25, top - 1, _latin1(_when(end)))
    for i, printer in enumerate(printers):
        pdf.text(left, top + i * row_h + 4.5, _latin1(printer))
    for bar in bars:
        colour = PALETTE[bar.job_index % len(PALETTE)]
        fill = FAILED if bar.failed else colour
        pdf.set_fill_color(*_rgb(fill))
        pdf.set_draw_color(*_rgb(colour))
        x = left + label_w + bar.x0 * plot_w
        w = max(0.8, (bar.x1 - bar.x0) * plot_w)
        pdf.rect(x, top + bar.row * row_h, w, row_h - 1.5, style="DF")
        if w > 14:
            pdf.set_text_color(255, 255, 255)
            pdf.text(x + 1, top + bar.row * row_h + 4, _latin1(bar.label))
            pdf.set_text_color(0, 0, 0)
    pdf.set_y(top + row_h * len(printers) + 2)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
