"""Shared by the hypothesis strategies that draw sympy expressions."""


def too_big_to_fold(e) -> bool:
    """sympy folds sin/cos of a number on the spot, reducing it modulo pi with as many digits as the
    number has: for exp(exp(1e12)) that never ends (a `make test` run sat in it for over 20 minutes).
    exp of a Float is evaluated on the spot too, and exp(Float(e**1e12)) reduces its argument modulo
    ln 2 to about 1e12 bits (another run sat in it for 17 minutes at 14 GB).
    True for a number (no symbols) of size 1e6 or more, or not a finite number at all."""
    if not e.is_number:
        return False
    try:
        return not abs(complex(e)) < 1e6
    except (TypeError, ValueError, OverflowError):
        return True
