"""Developer and operator tools that are not services: the bank-month simulator lives here."""
