"""Defects found in the review of the audit branches (review-change), each pinned by a test."""

from __future__ import annotations

from cramnet.dsl.errors import Span, excerpt


def test_an_excerpt_of_a_crlf_spec_shows_no_carriage_return():
    text = "model m {\r\n  x -> foo\r\n}\r\n"
    lines = excerpt(Span(file="m.cram", line=2, col=8, end_line=2, end_col=11), {"m.cram": text})
    assert lines[1] == "  2 |   x -> foo"
    assert lines[2] == "    |        ^^^"
