"""The run summary's numbers (`sim.model.metrics.summarize`) from a club's own arrays, in one call.

`club_summary` reads the weekly series matrix and the member records the engine holds, without building
the column tables `summarize` reads, and gives `summarize`'s numbers bit for bit: sums are numpy's pairwise
sums (`pairwise_sum`), tenure survival is the same Kaplan-Meier arithmetic (`median_tenure`). A number
`summarize` gives as None (no member of a type, no one eligible for first-year retention, ...) is NaN here.
`summarize` stays the definition; `sim.model.metrics.summarize_club` builds the summary from these numbers,
and the tests check that the two agree.
"""

import numpy as np

from sim.kernels import helper, kernel
from sim.kernels.layout import (
    ACTIVE,
    DISSOLVED,
    S_MEETING,
    S_MEMBERS,
    S_VISITORS,
)

# club_summary's member numbers, by index (NaN where `summarize` gives None)
(MEDIAN_TENURE, RETENTION_FIRST_YEAR, ROI_MEAN, ROI_MEDIAN, SHARE_POSITIVE_ROI, ROI_GIVER, ROI_RECIPROCATOR,
 ROI_HUNTER, VISITORS_PER_MEETING) = range(9)
N_NUMBERS = 9
ROI_BY_TYPE = (ROI_GIVER, ROI_RECIPROCATOR, ROI_HUNTER)  # in the order of layout.TYPE_NAMES
PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: below it, eight running sums; above, the two halves' sums added
SHELL_GAPS = np.array([1750, 701, 301, 132, 57, 23, 10, 4, 1])  # Ciura's gaps, with one more for long records


@helper
def _pairwise(values):
    """numpy's pairwise summation of a float64 array (numpy/_core/src/umath/loops_utils.h.src)."""
    n = len(values)
    if n < 8:
        total = 0.0
        for i in range(n):
            total += values[i]
        return total
    if n <= PAIRWISE_BLOCK:
        r0, r1, r2, r3 = values[0], values[1], values[2], values[3]
        r4, r5, r6, r7 = values[4], values[5], values[6], values[7]
        whole = n - n % 8
        for i in range(8, whole, 8):
            r0 += values[i]
            r1 += values[i + 1]
            r2 += values[i + 2]
            r3 += values[i + 3]
            r4 += values[i + 4]
            r5 += values[i + 5]
            r6 += values[i + 6]
            r7 += values[i + 7]
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for i in range(whole, n):
            total += values[i]
        return total
    half = n // 2
    half -= half % 8
    return _pairwise(values[:half]) + _pairwise(values[half:])


@kernel
def pairwise_sum(values):
    """`values.sum()` of a float64 array, bit for bit: numpy adds the array's pairwise sum to 0.0."""
    return 0.0 + _pairwise(values)


@helper
def order_of(values):
    """The indices that put `values` (finite) in ascending order: a Shell sort. Ties may come in any order,
    which neither use here sees; numba's np.sort and np.argsort would add seconds to a cold compile."""
    order = np.arange(len(values))
    for gap in SHELL_GAPS:
        for i in range(gap, len(values)):
            moving = order[i]
            j = i
            while j >= gap and values[order[j - gap]] > values[moving]:
                order[j] = order[j - gap]
                j -= gap
            order[j] = moving
    return order


@helper
def median_tenure(tenure, observed):
    """Kaplan-Meier median tenure (`metrics.kaplan_meier`, `km_median`): the first tenure at which survival
    is at or below one half; NaN when it never is. `observed` False marks a censored tenure."""
    n = len(tenure)
    exits = 0
    for i in range(n):
        exits += observed[i]
    if exits == 0:
        return np.nan
    order = order_of(tenure)
    survival = 1.0
    start = 0
    while start < n:
        time = tenure[order[start]]
        stop, deaths = start, 0
        while stop < n and tenure[order[stop]] == time:
            deaths += observed[order[stop]]
            stop += 1
        if exits == n:  # scipy's uncensored branch: the empirical survival function
            survival = 1 - stop / n
        else:
            at_risk = n - start
            survival *= (at_risk - deaths) / at_risk
        if survival <= 0.5:
            return time
        start = stop
    return np.nan


@helper
def visitors_per_meeting(series, weeks):
    """Visitors per meeting held in the second half of the horizon (a meeting with members); NaN if none."""
    visitors, meetings = 0.0, 0
    for week in range(weeks // 2, weeks):
        if series[week, S_MEETING] > 0 and series[week, S_MEMBERS] > 0:
            visitors += series[week, S_VISITORS]  # counts: exact in any order
            meetings += 1
    return visitors / meetings if meetings > 0 else np.nan


@helper
def mean_of(values):
    """`values.mean()`, bit for bit; NaN when empty."""
    return (0.0 + _pairwise(values)) / len(values) if len(values) > 0 else np.nan  # pairwise_sum


@kernel
def club_summary(series, members, n, weeks, totals, numbers):
    """The numbers of `summarize` for a club's first `weeks` series rows and first `n` member records at
    week `weeks`: `totals[k]` is series column k's sum, `numbers` as indexed above."""
    for k in range(series.shape[1]):
        totals[k] = 0.0 + _pairwise(series[:weeks, k])  # pairwise_sum, not inlined here
    numbers[VISITORS_PER_MEETING] = visitors_per_meeting(series, weeks)

    # tenure, its censoring, and first-year retention among members who joined a year before the end
    tenure, observed = np.empty(n), np.empty(n, dtype=np.bool_)
    eligible = retained = 0
    for i in range(n):
        end = members.exit_week[i] if members.exit_week[i] >= 0 else weeks
        tenure[i] = (end - members.join_week[i]) / 52.0
        reason = members.exit_reason[i]
        observed[i] = reason != ACTIVE and reason != DISSOLVED
        if members.join_week[i] <= weeks - 52 and not (reason == DISSOLVED and tenure[i] < 1.0):
            eligible += 1
            retained += reason == ACTIVE or tenure[i] >= 1.0
    numbers[MEDIAN_TENURE] = median_tenure(tenure, observed)
    numbers[RETENTION_FIRST_YEAR] = retained / eligible if eligible > 0 else np.nan

    # ROI (`metrics.roi`): of all members, and of each type in member order
    roi = np.empty(n)
    by_type = np.empty(n)
    positive = 0
    for i in range(n):
        cost = members.fees_paid[i] + members.time_cost[i]
        gain = members.margin[i] * (members.business_received[i] + members.direct_sales[i]) \
            + members.social_value[i]
        roi[i] = (gain - cost) / (cost if cost > 1.0 else 1.0)
        positive += roi[i] > 0
    numbers[ROI_MEAN] = mean_of(roi)
    numbers[SHARE_POSITIVE_ROI] = positive / n if n > 0 else np.nan
    for member_type in range(len(ROI_BY_TYPE)):
        count = 0
        for i in range(n):
            if members.member_type[i] == member_type:
                by_type[count] = roi[i]
                count += 1
        numbers[ROI_BY_TYPE[member_type]] = mean_of(by_type[:count])
    # np.median: the mean of the middle one or two, added as `mean_of` adds them
    order = order_of(roi)
    if n == 0:
        numbers[ROI_MEDIAN] = np.nan
    elif n % 2 == 1:
        numbers[ROI_MEDIAN] = 0.0 + (0.0 + roi[order[n // 2]])
    else:
        numbers[ROI_MEDIAN] = (0.0 + ((0.0 + roi[order[n // 2 - 1]]) + roi[order[n // 2]])) / 2
