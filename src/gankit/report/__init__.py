"""``gankit report``: one self-contained HTML page per training run or reproduction."""
from gankit.report.write import PAGE_NAME, build_report, check_page_name, report_after_training, write_report

__all__ = ["PAGE_NAME", "build_report", "check_page_name", "report_after_training", "write_report"]
