"""Symbolic dimensions: sizes known only at run time (`seq`, `n`) and arithmetic over them.

A dimension is an `int` or a `Poly` — a polynomial with integer coefficients over atoms, where an
atom is a symbol or an exact floor division that cannot be simplified (`(seq - 3)//2`). Polys
support `+ - * //` with ints and each other, so one shape rule serves known and symbolic sizes:
`(length + 2 * pad - kernel) // stride + 1` works for both. Equal sizes compare equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

Monomial = tuple  # sorted tuple of atoms; () is the constant term


@dataclass(frozen=True)
class Floor:
    """`numerator // denominator`, kept as an atom when it does not divide exactly."""

    numerator: Poly
    denominator: int | Poly

    def __str__(self) -> str:
        return f"({self.numerator})//{_paren(self.denominator)}"


Atom = Union[str, Floor]


@dataclass(frozen=True)
class Poly:
    terms: tuple[tuple[Monomial, int], ...]  # sorted, no zero coefficients

    # construction -----------------------------------------------------------------------------
    @staticmethod
    def symbol(name: str) -> Poly:
        return Poly((((name,), 1),))

    @staticmethod
    def _make(terms: dict[Monomial, int]) -> Dim:
        kept = tuple(sorted(((m, c) for m, c in terms.items() if c != 0), key=lambda t: _key(t[0])))
        if not kept:
            return 0
        if len(kept) == 1 and kept[0][0] == ():
            return kept[0][1]
        return Poly(kept)

    def _dict(self) -> dict[Monomial, int]:
        return dict(self.terms)

    # arithmetic -------------------------------------------------------------------------------
    def __add__(self, other: Dim) -> Dim:
        terms = self._dict()
        for m, c in _as_terms(other).items():
            terms[m] = terms.get(m, 0) + c
        return Poly._make(terms)

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return Poly._make({m: -c for m, c in self.terms})

    def __sub__(self, other: Dim) -> Dim:
        return self + (-other)

    def __rsub__(self, other: Dim) -> Dim:
        return (-self) + other

    def __mul__(self, other: Dim) -> Dim:
        terms: dict[Monomial, int] = {}
        for m1, c1 in self.terms:
            for m2, c2 in _as_terms(other).items():
                m = tuple(sorted(m1 + m2, key=_atom_key))
                terms[m] = terms.get(m, 0) + c1 * c2
        return Poly._make(terms)

    __rmul__ = __mul__

    def __pow__(self, exponent: int) -> Dim:
        if not isinstance(exponent, int) or exponent < 0:
            return NotImplemented
        result: Dim = 1
        for _ in range(exponent):
            result = result * self
        return result

    def __floordiv__(self, other: Dim) -> Dim:
        if isinstance(other, int) and other != 0 and all(c % other == 0 for _, c in self.terms):
            return Poly._make({m: c // other for m, c in self.terms})
        if other == self:
            return 1
        return Poly._make({(Floor(self, other),): 1})

    def __rfloordiv__(self, other: int) -> Dim:
        return Poly._make({(Floor(Poly._make({(): other}), self),): 1}) if other else 0

    # reading ----------------------------------------------------------------------------------
    def symbols(self) -> set[str]:
        found: set[str] = set()
        for monomial, _ in self.terms:
            for atom in monomial:
                found |= {atom} if isinstance(atom, str) else symbols(atom.numerator) | symbols(atom.denominator)
        return found

    def evaluate(self, sizes: Mapping[str, int]) -> int:
        total = 0
        for monomial, coeff in self.terms:
            value = coeff
            for atom in monomial:
                value *= (
                    sizes[atom]
                    if isinstance(atom, str)
                    else evaluate(atom.numerator, sizes) // evaluate(atom.denominator, sizes)
                )
            total += value
        return total

    def __str__(self) -> str:
        parts = []
        for monomial, coeff in reversed(self.terms):  # highest degree first
            # a floor atom multiplied by anything is parenthesised: 2*((seq - 3)//2), not 2*(seq - 3)//2
            factors = _power_string(monomial, wrap_floors=coeff != 1 or len(monomial) > 1)
            if not factors:
                parts.append(str(coeff))
            elif coeff == 1:
                parts.append(factors)
            elif coeff == -1:
                parts.append("-" + factors)
            else:
                parts.append(f"{coeff}*{factors}")
        return " + ".join(parts).replace("+ -", "- ")

    __repr__ = __str__


Dim = Union[int, Poly]


def _as_terms(value: Dim) -> dict[Monomial, int]:
    return value._dict() if isinstance(value, Poly) else {(): value}


def _atom_key(atom: Atom) -> str:
    return atom if isinstance(atom, str) else "~" + str(atom)


def _key(monomial: Monomial) -> tuple:
    return (len(monomial), [_atom_key(a) for a in monomial])


def _paren(value: Dim) -> str:
    return f"({value})" if isinstance(value, Poly) and (len(value.terms) > 1 or value.terms[0][1] != 1) else str(value)


def _power_string(monomial: Monomial, wrap_floors: bool = False) -> str:
    counts: dict[str, int] = {}
    for atom in monomial:
        text = f"({atom})" if wrap_floors and isinstance(atom, Floor) else str(atom)
        counts[text] = counts.get(text, 0) + 1
    return "*".join(name if n == 1 else f"{name}^{n}" for name, n in counts.items())


def is_known(dim: Dim) -> bool:
    return isinstance(dim, int)


def symbols(dim: Dim) -> set[str]:
    return dim.symbols() if isinstance(dim, Poly) else set()


def symbol_name(dim: Dim) -> str | None:
    """The name of a size that is one run-time symbol alone (`seq`, not `seq + 1` or 8), else None."""
    return str(dim) if symbols(dim) == {str(dim)} else None


def evaluate(dim: Dim, sizes: Mapping[str, int]) -> int:
    """The integer value of `dim` with each symbol replaced by its size (KeyError if one is missing)."""
    return dim.evaluate(sizes) if isinstance(dim, Poly) else dim


def show(dim: Dim) -> str:
    return str(dim)


def product(dims: tuple[Dim, ...] | list[Dim]) -> Dim:
    result: Dim = 1
    for d in dims:
        result = result * d
    return result
