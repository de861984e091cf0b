"""The kernel's two writers on their own: a big export is written a row at a time (the rows are a
generator consumed once, the workbook holds inline strings rather than a shared table built in
memory), times are the district's, gaps stay empty, and the sheet's name is one Excel accepts."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime

from app.web.exports import chunks, csv_lines, xlsx_file
from tests.spreadsheets import read_xlsx


def test_a_large_workbook_is_written_row_by_row_and_reads_back_whole():
    consumed = []

    def rows():
        for i in range(20_000):
            consumed.append(i)
            yield (f"北山街道{i}号", date(2026, 1, 1), i)

    file = xlsx_file("走访", ["地址", "日期", "序号"], rows())
    raw = b"".join(chunks(file))
    assert file.closed and len(consumed) == 20_000
    assert "xl/sharedStrings.xml" not in zipfile.ZipFile(io.BytesIO(raw)).namelist()
    header, *body = read_xlsx(raw).rows()
    assert header == ["地址", "日期", "序号"] and len(body) == 20_000
    assert body[-1] == ["北山街道19999号", date(2026, 1, 1), 19_999]


def test_times_are_the_districts_and_gaps_stay_empty():
    handed_over = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)  # 07:30 on the 4th in Beijing
    book = read_xlsx(b"".join(chunks(xlsx_file("送证上门", ["时间", "备注", "回执"], [(handed_over, None, "")]))))
    assert book.rows()[1] == [datetime(2026, 12, 4, 7, 30)]
    lines = list(csv_lines(["时间", "备注", "回执"], [(handed_over, None, "")]))
    assert lines[0].startswith("\ufeff时间") and lines[1] == "2026-12-04 07:30:00,,\r\n"


def test_formula_like_text_is_defused_in_the_csv_only_as_text():
    lines = list(csv_lines(["a"], [("=1+1",), ("+86",), ("@x",), ("-1",), ("张伟",), (-1,)]))
    assert lines[1:] == ["'=1+1\r\n", "'+86\r\n", "'@x\r\n", "'-1\r\n", "张伟\r\n", "-1\r\n"]


def test_the_sheet_is_named_as_excel_allows():
    book = read_xlsx(b"".join(chunks(xlsx_file("a/b:c[d]*?" + "x" * 40, ["h"], []))))
    (name,) = book.sheet_names
    assert name.startswith("a b c d") and len(name) == 31 and not set(name) & set("[]:*?/\\")
