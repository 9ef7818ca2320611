"""csv_text: header from the first row or from ``columns``, empty cells for None and missing keys."""

import csv
import io

from thygan.io.tables import csv_text


def test_header_is_the_first_rows_keys_by_default():
    text = csv_text([{"b": 1, "a": "x,y"}, {"b": None, "a": 2.5}])
    assert text.splitlines()[0] == "b,a"
    assert list(csv.DictReader(io.StringIO(text))) == [{"b": "1", "a": "x,y"}, {"b": "", "a": "2.5"}]


def test_columns_fix_the_header_even_without_rows():
    assert csv_text([], ["set", "fid"]) == "set,fid\n"
    text = csv_text([{"fid": 3.0}], ["set", "fid"])
    assert list(csv.DictReader(io.StringIO(text))) == [{"set": "", "fid": "3.0"}]
