"""read_state_dict: the one reader of .pdparams files for factory weights and PaddleRS training dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from trt_export.env.paddle_import import import_paddle
from trt_export.errors import ModelSourceError
from trt_export.model.weights import read_state_dict


def test_reads_a_state_dict(tmp_path: Path) -> None:
    paddle = import_paddle()
    path = tmp_path / "w.pdparams"
    paddle.save({"fc.weight": paddle.ones([2, 3])}, str(path))
    state = read_state_dict(path, "weights", "fix it")
    assert list(state) == ["fc.weight"] and list(state["fc.weight"].shape) == [2, 3]


def test_a_file_paddle_cannot_read_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "w.pdparams"
    path.write_text("not a pickle", encoding="utf-8")
    with pytest.raises(ModelSourceError) as info:
        read_state_dict(path, f"weights {str(path)!r}", "is it a .pdparams file?")
    message = str(info.value)
    assert message.startswith(f"cannot read weights {str(path)!r} (") and message.endswith("); is it a .pdparams file?")


def test_a_file_that_holds_no_dict(tmp_path: Path) -> None:
    paddle = import_paddle()
    path = tmp_path / "w.pdparams"
    paddle.save([paddle.ones([1])], str(path))
    with pytest.raises(ModelSourceError, match=r"^'.*w.pdparams' holds a list, not a state dict; restore it$"):
        read_state_dict(path, repr(str(path)), "restore it")
