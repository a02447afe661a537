"""Symbolic dimensions (blocks/dims.py): Poly arithmetic, equality, floor atoms, evaluation, printing."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cramnet.blocks.dims import Floor, Poly, evaluate, is_known, product, show, symbols

seq = Poly.symbol("seq")
n = Poly.symbol("n")


# -- construction and arithmetic ------------------------------------------------------------------


def test_symbol_is_a_poly_with_one_term():
    assert isinstance(seq, Poly)
    assert seq.terms == ((("seq",), 1),)
    assert symbols(seq) == {"seq"}


def test_addition_with_ints_on_either_side():
    assert seq + 1 == 1 + seq
    assert str(seq + 1) == "seq + 1"
    assert seq + 0 == seq


def test_results_that_are_constant_collapse_to_int():
    for value, expected in [(seq - seq, 0), ((seq + 3) - seq, 3), (seq * 0, 0), (seq // seq, 1), (0 // seq, 0)]:
        assert value == expected
        assert type(value) is int


def test_subtraction_and_negation():
    assert 3 - seq == -seq + 3
    negated = -seq
    assert -negated == seq
    assert (seq + n) - n == seq
    assert str(-seq) == "-seq"
    assert str(3 - seq) == "-seq + 3"


def test_multiplication_collects_like_terms():
    assert seq * 2 == 2 * seq == seq + seq
    assert seq * n == n * seq
    assert (seq + 1) * (seq - 1) == seq * seq - 1
    assert (seq + n) * 2 == 2 * seq + 2 * n


def test_equal_polys_hash_alike():
    assert hash(seq * n + 1) == hash(1 + n * seq)
    assert len({seq * n, n * seq, seq + 0}) == 2


def test_poly_never_equals_an_int():
    assert seq != 3
    assert seq + 1 != 1


# -- floor division -------------------------------------------------------------------------------


def test_exact_division_by_an_int_simplifies():
    assert (4 * seq + 8) // 4 == seq + 2
    assert (2 * seq) // 2 == seq
    assert (6 * seq) // -3 == -2 * seq


def test_inexact_division_is_kept_as_a_floor_atom():
    half = (seq - 3) // 2
    assert isinstance(half, Poly)
    ((monomial, coefficient),) = half.terms
    assert coefficient == 1
    (atom,) = monomial
    assert isinstance(atom, Floor)
    assert atom.numerator == seq - 3 and atom.denominator == 2


def test_floor_atoms_compare_structurally():
    assert (seq - 3) // 2 == (seq - 3) // 2
    assert (seq - 3) // 2 != (seq - 4) // 2
    assert (seq - 3) // 2 != (seq - 3) // 3
    assert hash((seq + 1) // 2) == hash((1 + seq) // 2)


def test_floor_atoms_combine_with_arithmetic():
    # the conv length formula: (L + 2*pad - kernel) // stride + 1
    out = (seq + 2 * 1 - 3) // 2 + 1
    assert symbols(out) == {"seq"}
    assert evaluate(out, {"seq": 10}) == (10 + 2 - 3) // 2 + 1
    assert evaluate(out - out, {}) == 0


def test_int_divided_by_poly():
    assert evaluate(12 // seq, {"seq": 5}) == 2
    assert symbols(12 // seq) == {"seq"}


def test_nested_floors():
    twice = ((seq - 3) // 2 + 1) // 2
    assert str(twice) == "((seq - 3)//2 + 1)//2"
    for size in range(3, 20):
        assert evaluate(twice, {"seq": size}) == ((size - 3) // 2 + 1) // 2


# -- reading --------------------------------------------------------------------------------------


def test_evaluate_substitutes_sizes():
    assert evaluate(seq * n + 2 * seq - 1, {"seq": 3, "n": 5}) == 3 * 5 + 6 - 1
    assert evaluate(7, {}) == 7


def test_evaluate_with_a_missing_size_raises_key_error():
    with pytest.raises(KeyError):
        evaluate(seq + n, {"seq": 1})


def test_symbols_see_inside_floor_atoms():
    assert symbols((seq - n) // 2 + 1) == {"seq", "n"}
    assert symbols(12 // n) == {"n"}
    assert symbols(5) == set()


def test_is_known():
    assert is_known(3)
    assert not is_known(seq)
    assert is_known(seq - seq)


def test_product():
    assert product([]) == 1
    assert product([2, 3, 4]) == 24
    assert product([seq, 2, n]) == 2 * n * seq
    assert product((seq, seq)) == seq * seq


def test_str_orders_terms_highest_degree_first():
    assert str(2 * seq * seq - seq + 5) == "2*seq^2 - seq + 5"
    assert str(seq * n + 3) == "n*seq + 3"
    assert str((seq - 3) // 2) == "(seq - 3)//2"
    assert str((seq + 1) // (n + 1)) == "(seq + 1)//(n + 1)"
    assert show(seq) == "seq" and show(4) == "4"
    assert repr(seq + 1) == "seq + 1"


# -- properties: Poly arithmetic agrees with integer arithmetic -----------------------------------

SIZES = st.fixed_dictionaries({"seq": st.integers(1, 50), "n": st.integers(1, 50)})


@st.composite
def polys(draw, depth: int = 3):
    """A random dimension built the way shape rules build them: + - * with ints, // by positive ints."""
    if depth == 0 or draw(st.booleans()):
        return draw(st.sampled_from([seq, n]) | st.integers(-5, 5))
    left = draw(polys(depth - 1))
    op = draw(st.sampled_from(["+", "-", "*", "//"]))
    if op == "//":
        return left // draw(st.integers(1, 4))
    right = draw(polys(depth - 1))
    return {"+": left + right, "-": left - right, "*": left * right}[op]


@settings(max_examples=200, deadline=None)
@given(polys(), polys(), SIZES)
def test_arithmetic_commutes_with_evaluation(a, b, sizes):
    ea, eb = evaluate(a, sizes), evaluate(b, sizes)
    assert evaluate(a + b, sizes) == ea + eb
    assert evaluate(a - b, sizes) == ea - eb
    assert evaluate(a * b, sizes) == ea * eb
    for k in (1, 2, 3):
        assert evaluate(a // k, sizes) == ea // k


@settings(max_examples=200, deadline=None)
@given(polys(), polys(), polys())
def test_algebraic_laws_hold_as_equality(a, b, c):
    assert a + b == b + a
    assert a * b == b * a
    assert (a + b) + c == a + (b + c)
    assert (a + b) * c == a * c + b * c
    assert a - a == 0


def _as_python(text: str) -> str:
    return re.sub(r"\^(\d+)", r"**\1", text)


@pytest.mark.parametrize(
    "value, text",
    [
        (2 * ((seq - 3) // 2), "2*((seq - 3)//2)"),
        (-((seq - 3) // 2), "-((seq - 3)//2)"),
        (n * ((seq - 3) // 2), None),
        (((seq - 3) // 2) * ((seq - 3) // 2), "((seq - 3)//2)^2"),
    ],
)
def test_str_of_a_scaled_floor_is_unambiguous(value, text):
    # `2*(seq - 3)//2` would read as (2*(seq - 3))//2
    if text is not None:
        assert str(value) == text
    assert eval(_as_python(str(value)), {"seq": 10, "n": 3}) == evaluate(value, {"seq": 10, "n": 3})


@settings(max_examples=300, deadline=None)
@given(polys(), SIZES)
def test_str_reads_back_as_the_same_value(value, sizes):
    assert eval(_as_python(str(value)), dict(sizes)) == evaluate(value, sizes)


def test_a_size_is_named_by_one_symbol_alone():
    from cramnet.blocks.dims import symbol_name

    assert symbol_name(seq) == "seq"
    assert symbol_name(seq + 1) is None and symbol_name(2 * seq) is None and symbol_name(8) is None
