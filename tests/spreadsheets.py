"""Reading back the exports the way a clerk's spreadsheet would: a CSV with its byte-order mark,
an XLSX opened as the zip of XML it is (the standard library only), cells typed by their style —
a number shown with a date format is a date."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime, timedelta
from xml.etree import ElementTree

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
EPOCH = datetime(1899, 12, 30)
BUILTIN_DATE_FORMATS = {14, 15, 16, 17, 22}


def _parse(raw: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(raw)  # noqa: S314 (the server's own file, not untrusted input)


def read_csv(raw: bytes) -> list[list[str]]:
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the Chinese as UTF-8
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


class Workbook:
    def __init__(self, raw: bytes):
        self.zip = zipfile.ZipFile(io.BytesIO(raw))
        assert self.zip.testzip() is None
        book = _parse(self.zip.read("xl/workbook.xml"))
        self.sheet_names = [s.get("name") for s in book.find("m:sheets", NS)]
        self.sheet = _parse(self.zip.read("xl/worksheets/sheet1.xml"))
        self._date_styles = self._find_date_styles()

    def _find_date_styles(self) -> dict[int, bool]:
        styles = _parse(self.zip.read("xl/styles.xml"))
        custom = {int(f.get("numFmtId")): f.get("formatCode") for f in styles.iterfind("m:numFmts/m:numFmt", NS)}
        result = {}
        for i, xf in enumerate(styles.iterfind("m:cellXfs/m:xf", NS)):
            fmt = int(xf.get("numFmtId", 0))
            result[i] = fmt in BUILTIN_DATE_FORMATS or "yy" in custom.get(fmt, "")
        return result

    def _value(self, cell):
        kind, style = cell.get("t"), int(cell.get("s", 0))
        if kind == "inlineStr":
            return "".join(t.text or "" for t in cell.iterfind(".//m:t", NS))
        if kind == "s":
            raise AssertionError("shared strings: not what constant_memory writes")
        raw = cell.findtext("m:v", namespaces=NS)
        if raw is None:
            return None
        if kind == "b":
            return raw == "1"
        number = float(raw)
        if self._date_styles.get(style):
            moment = EPOCH + timedelta(days=number)
            return moment.date() if number == int(number) else moment.replace(microsecond=0)
        return int(number) if number == int(number) else number

    def rows(self) -> list[list]:
        """Each row as a list, the columns in place (a gap is None)."""
        out = []
        for row in self.sheet.iterfind("m:sheetData/m:row", NS):
            values: list = []
            for cell in row.iterfind("m:c", NS):
                column = _column_index(cell.get("r"))
                values.extend([None] * (column - len(values)))
                values.append(self._value(cell))
            out.append(values)
        return out

    def column_widths(self) -> list[float]:
        """A width per column (a <col> element may span several alike)."""
        widths: list[float] = []
        for c in self.sheet.iterfind("m:cols/m:col", NS):
            widths.extend([float(c.get("width"))] * (int(c.get("max")) - int(c.get("min")) + 1))
        return widths


def _column_index(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref).group(0)
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def read_xlsx(raw: bytes) -> Workbook:
    assert raw[:2] == b"PK"  # a zip
    return Workbook(raw)


__all__ = ["read_csv", "read_xlsx"]
