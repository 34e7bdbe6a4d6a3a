"""The layout of the state arrays, as the kernels index them: member types, exit reasons, composition codes,
the club's counters and totals, the scratch rows and the weekly series' columns.

`sim.model.state` builds the arrays from a scenario; the kernels read them by these codes and indexes, so the
layout lives with the kernels (the layer below the model: tests/test_layers.py). numba freezes these globals
into the compiled kernels, which is why `sim.kernels` hashes this file with the kernels' sources.
"""

import numpy as np

# Member types and exit reasons, as stored in the arrays. Codes passed to kernels are numpy
# integers, not Python ints: numba compiles a separate copy of a kernel for each literal int.
GIVER, RECIPROCATOR, HUNTER = np.int64(0), np.int64(1), np.int64(2)
TYPE_NAMES = ("giver", "reciprocator", "hunter")
ACTIVE, LEFT, EXPELLED_ABSENCE, EXPELLED_CONTRIBUTION, EXOGENOUS, DISSOLVED = (np.int64(code) for code in range(6))
NO_SECTOR = np.int64(-1)  # a candidate drawn from the whole market
FOUNDING_WEEK = np.int64(0)
EXIT_NAMES = ("active", "left", "expelled_absence", "expelled_contribution", "exogenous", "dissolved")
COMPOSITION_CODES = {"exclusivity": 0, "complementarity": 1, "open": 2}
EXCLUSIVITY, COMPLEMENTARITY, OPEN = 0, 1, 2

# Slots.received_from is uint8, held at 255: credit enters min(1, (prior + credit) / reciprocity_saturation) with
# prior >= 0 and the saturation <= 100 (the scenario schema's bounds), so a count held there passes as a true one
RECEIVED_MAX = 255
NEVER = -(10**9)  # the week of an absence or referral that never happened
NEVER_AGAIN = np.int64(10**12)  # a delay (weeks) that never ends
MAX_VISITORS_PER_MEETING = 256  # a Poisson draw above this is capped (far beyond any plausible mean)

# Club.counters
(N_MEMBERS, NEXT_ID, CLOSED, N_HUNTERS, N_HELD, HOLDINGS_CHANGED, N_CANDIDATES, N_GIVERS, N_REFUSED,
 SLOTS_USED, TIES_SUMMED) = range(11)
N_COUNTERS = 11  # N_REFUSED: applicants refused for capacity or composition this week, kept for a region's transfers
# TIES_SUMMED: 1 while totals[TIE_TOTAL] and the strong ties (counters[STRONG_TIES + s], slot s's ties at or above
# strong_threshold) hold the ties as `decay_ties` left them, until a member joins or leaves or the week closes: the
# week's accounts and close then read them instead of the whole tie matrix (a region's clubs, whose matrices have
# left the cache by then; a chapter's decay does not sum)
STRONG_TIES = N_COUNTERS  # counters[STRONG_TIES + s] for each slot s
# SLOTS_USED: 1 + the highest slot ever taken; every slot from it on has always been free, so its row and column
# of the pair matrices (Slots.tie, sales, received_from) were never written and the kernels leave them alone
# Club.totals
NEED_RATE, HELD_WEIGHT = 0, 1  # the club's rate of needs that may become referrals; demand weight held
TIE_TOTAL = 2  # the members' ties summed as `close_week` sums them, by `decay_ties` (see TIES_SUMMED)
N_TOTALS = 3
# Slots.work_index and Slots.work_value rows
W_PRESENT, W_ATTENDEES, W_OTHERS, W_IS_HUNTER, W_SPHERE, W_SECTOR, W_RANK = range(7)
N_WORK_INDEX = 7
W_GROWTH, W_HUNTER_GROWTH, W_SATISFACTION = range(3)
N_WORK_VALUE = 3

# weekly series columns (week_stats and the series matrix), named as in sim.model.metrics.SERIES_COLUMNS
SERIES_FIELDS = (
    "week", "meeting", "members", "joins", "exits_left", "exits_expelled_absence",
    "exits_expelled_contribution", "exits_exogenous", "exits_dissolved", "exits",
    "visitors", "applicants", "referrals", "deals", "business", "direct_sales",
    "attendance_rate", "mean_tie", "hunter_share", "fees_collected",
    "cross_club_referrals", "cross_club_business", "sphere_referrals",
)
(
    S_WEEK, S_MEETING, S_MEMBERS, S_JOINS, S_EXITS_LEFT, S_EXITS_ABSENCE, S_EXITS_CONTRIBUTION,
    S_EXITS_EXOGENOUS, S_EXITS_DISSOLVED, S_EXITS, S_VISITORS, S_APPLICANTS, S_REFERRALS, S_DEALS,
    S_BUSINESS, S_DIRECT_SALES, S_ATTENDANCE_RATE, S_MEAN_TIE, S_HUNTER_SHARE, S_FEES,
    S_CROSS_REFERRALS, S_CROSS_BUSINESS, S_SPHERE_REFERRALS,
) = range(len(SERIES_FIELDS))
N_SERIES = len(SERIES_FIELDS)

# Random streams (`sim.kernels.draws`): one per random process, so that two runs on one seed draw each
# process's numbers in step however far they diverge elsewhere. Club.streams rows:
CLUB_STREAMS = ("attendance", "one_to_ones", "visitors", "candidates", "needs", "hunting", "decisions", "screening",
                "second_circle")
(R_ATTENDANCE, R_ONE_TO_ONES, R_VISITORS, R_CANDIDATES, R_NEEDS, R_HUNTING, R_DECISIONS, R_SCREENING,
 R_SECOND_CIRCLE) = range(len(CLUB_STREAMS))
N_CLUB_STREAMS = len(CLUB_STREAMS)
# Region.streams rows: interclub events (who attends, whom they meet) and transfers of refused applicants
REGION_STREAMS = ("events", "transfers")
R_EVENTS, R_TRANSFERS = range(len(REGION_STREAMS))
N_REGION_STREAMS = len(REGION_STREAMS)
# Lane.out_kind bits of a second-circle referral posted to another club: converted to a deal; within the
# giver's own sector (its contact sphere)
OUT_DEAL, OUT_SPHERE = 1, 2
