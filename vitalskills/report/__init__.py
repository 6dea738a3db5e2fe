"""Recordings of runs (`vitalskills run --record DIR`) and their HTML report."""

from vitalskills.report.html import render_report
from vitalskills.report.record import Recorder, RecordError
from vitalskills.report.summary import SummaryCollector

__all__ = ["RecordError", "Recorder", "SummaryCollector", "render_report"]
