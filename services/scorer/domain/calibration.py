"""The null models of honest behaviour the new signals are judged against, with how each was
measured (docs/scoring.md, "Calibration"). Measured on the evaluation's tuning seeds only (1, 2, 3
at camouflage 1 and 2: `tools/evaluate/split.py`), on honest employees and on matched customers,
never on a gaming kind; a bank re-measures them on its own months."""

from __future__ import annotations

from typing import Final

from services.scorer.domain.cadence import HumanCadence
from services.scorer.domain.surprise import Spread

ACQUISITION_SILENCE: Final[Spread] = Spread(0.27, 0.07)
"""Share of an acquisition employee's decided adds whose contact never wrote: the median and
the spread between people of the 24 prospectors of the tuning seeds (0.19 to 0.42, median
0.27, standard deviation 0.06, taken as 0.07: the shares are spread evenly, not normally)."""
HUMAN_CADENCE: Final[HumanCadence] = HumanCadence(latency_log_sd=0.8, session_hour_sd=1.5)
"""How irregular one real person is at the least (`cadence.py`): the reply latencies' log
spread and the session hours' spread, lower bounds read off matched customers."""
SCRIPTED_NULL_RATE: Final[float] = 0.003
"""Share of real contacts with a testable cadence whom the per-contact test
(`scripted.SCRIPTED_LEVEL`) calls scripted all the same: 10 of 6,977 matched customers (people
known to be real) and 4 of 2,270 honest employees' non-customers of the tuning seeds (0.0014
and 0.0018), taken as 0.003 for caution."""
AFTER_WINDOW_DELETE_RATE: Final[float] = 0.005
"""Share of an honest employee's adds that they remove within 48 hours after the retention
window ends. None of the 36,636 honest adds of the tuning seeds was; a bank's staff do tidy up
their contacts, so the null is a cautious prior (one add in two hundred), not the zero seen."""
UNTOUCHED_CUSTOMERS: Final[Spread] = Spread(0.07, 0.045)
"""Share of an honest employee's matched customers to whom no one-to-one message went either
way (the employee sent no greeting, the customer never wrote): the median and the spread
between people of the 868 honest employees of the tuning seeds with 20 matched customers or
more (median 0.066, standard deviation 0.044; 90 % under 0.12)."""
NON_CUSTOMERS: Final[Spread] = Spread(0.25, 0.08)
"""Share of an honest servicing employee's adds that are not matched customers: the median and
the spread between people of the 776 clean employees of the tuning seeds with 20 adds or more
(median 0.245, standard deviation 0.076; 90 % under 0.35)."""
