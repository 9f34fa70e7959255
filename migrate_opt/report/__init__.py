"""Reports people can look at: one self-contained HTML page per study
(``migrate-opt report STORAGE --study S -o report.html``)."""

from .html import rebuild_task, render_report, write_report

__all__ = ["rebuild_task", "render_report", "write_report"]
