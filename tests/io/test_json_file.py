"""read_json: content, or one line naming the file and what it should have been."""

import pytest

from thygan.errors import UserError
from thygan.io.json_file import read_json


def test_content_and_the_messages(tmp_path):
    (tmp_path / "ok.json").write_text('{"a": [1, 2]}')
    assert read_json(tmp_path / "ok.json", what="split file") == {"a": [1, 2]}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UserError, match=r"bad.json: cannot read split file \(Expecting") as info:
        read_json(tmp_path / "bad.json", what="split file")
    assert "\n" not in str(info.value)
    (tmp_path / "latin.json").write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(UserError, match="latin.json: cannot read split file"):
        read_json(tmp_path / "latin.json", what="split file")
    with pytest.raises(UserError, match="absent.json: cannot read split file .*No such file"):
        read_json(tmp_path / "absent.json", what="split file")
    with pytest.raises(UserError, match="absent.json: not there, give another$"):
        read_json(tmp_path / "absent.json", what="split file", missing="not there, give another")
