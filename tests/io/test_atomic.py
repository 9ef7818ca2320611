"""Atomic writes: the destination is either the old file or the complete new one, and no temp is left."""

import os
import stat

import pytest

from thygan.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def test_write_bytes_creates_and_replaces_without_leftovers(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_write_text_encodes(tmp_path):
    target = tmp_path / "t.txt"
    atomic_write_text(target, "Zellkern \u00b5m\n")
    assert target.read_bytes() == "Zellkern \u00b5m\n".encode()
    atomic_write_text(target, "\u00b5", encoding="latin-1")
    assert target.read_bytes() == b"\xb5"


def test_failure_inside_atomic_path_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp != target
            tmp.write_text("half of the new")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_interrupt_keeps_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_failed_write_bytes_leaves_nothing_new(tmp_path):
    target = tmp_path / "never.bin"
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_permissions_follow_the_umask_like_a_plain_open(tmp_path):
    """A mkstemp-style 0600 temp renamed into place would hide outputs from the group; plain files don't."""
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    target = atomic_write_bytes(tmp_path / "atomic", b"x")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
