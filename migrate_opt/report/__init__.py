"""Reports people can look at: one self-contained HTML page per study
(``migrate-opt report STORAGE --study S -o report.html``) and one page putting several
studies side by side (``migrate-opt compare``)."""

from .html import render_report, write_report

__all__ = ["render_report", "write_report"]
