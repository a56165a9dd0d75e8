"""The one error the credit library raises, so callers can tell bad input from bugs."""


class CreditError(ValueError):
    """Input the computation refuses: the message says which value and why."""
