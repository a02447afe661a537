"""Defects found in the review of the audit branches (review-change), each pinned by a test."""

from __future__ import annotations

import pytest

from cramnet.dsl.errors import Span, excerpt
from cramnet.errors import UsageError


def test_an_excerpt_of_a_crlf_spec_shows_no_carriage_return():
    text = "model m {\r\n  x -> foo\r\n}\r\n"
    lines = excerpt(Span(file="m.cram", line=2, col=8, end_line=2, end_col=11), {"m.cram": text})
    assert lines[1] == "  2 |   x -> foo"
    assert lines[2] == "    |        ^^^"


@pytest.mark.parametrize("item", ["seq=--5", "seq=---"])
def test_a_dim_with_doubled_minus_is_a_usage_error(item):
    from cramnet.cli.options import parse_sizes

    with pytest.raises(UsageError):
        parse_sizes([item])


def test_a_run_missing_its_tokenizer_copy_is_told_it_is_damaged(tmp_path):
    from cramnet.train.data.text import tokenizer_from_json
    from cramnet.train.errors import TrainError

    with pytest.raises(TrainError) as raised:
        tokenizer_from_json({"kind": "published", "file": "tokenizer.json", "from": "/gone"}, tmp_path)
    assert "tokenizer.json" in str(raised.value) and "train the run again" in raised.value.hint
