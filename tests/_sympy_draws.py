"""Shared by the hypothesis strategies that draw sympy expressions."""


def too_big_to_fold(e) -> bool:
    """sympy folds sin/cos of a number on the spot, reducing it modulo pi with as many digits as the
    number has: for exp(exp(1e12)) that never ends (a `make test` run sat in it for over 20 minutes).
    True for a number (no symbols) of size 1e6 or more, or not a finite number at all."""
    if not e.is_number:
        return False
    try:
        return not abs(complex(e)) < 1e6
    except (TypeError, ValueError, OverflowError):
        return True
