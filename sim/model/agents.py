"""Member: a Mesa agent whose attributes are views of the numba engine's arrays.

The state lives in `sim.model.state` arrays (so the kernels can run without Python
objects); a `Member` reads its row, so Mesa users can write
`member.attendance_habit` or use it in a DataCollector agent reporter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from sim.kernels.layout import EXIT_NAMES, TYPE_NAMES
from sim.model.metrics import ROI_INPUTS, roi

if TYPE_CHECKING:
    from sim.model.club import ClubModel


def _account(name: str, doc: str) -> property:
    def read(self: Member) -> float:
        return float(getattr(self.model.engine.members, name)[self.member_id])

    return property(read, doc=doc)


def _slot_state(name: str, doc: str) -> property:
    def read(self: Member) -> float:
        slot = self.slot
        return float(getattr(self.model.engine.slots, name)[slot]) if slot >= 0 else float("nan")

    return property(read, doc=doc)


class Member(mesa.Agent):
    """A club member (docs/ODD.md section 2); `member_id` indexes the engine's member arrays."""

    model: ClubModel

    def __init__(self, model: ClubModel, member_id: int):
        super().__init__(model)
        self.member_id = member_id

    # static attributes
    @property
    def member_type(self) -> str:
        return TYPE_NAMES[self.model.engine.members.member_type[self.member_id]]

    @property
    def profession(self) -> int:
        return int(self.model.engine.members.profession[self.member_id])

    @property
    def sector(self) -> int:
        return int(self.model.engine.members.sector[self.member_id])

    @property
    def founder(self) -> bool:
        return bool(self.model.engine.members.founder[self.member_id])

    @property
    def join_week(self) -> int:
        return int(self.model.engine.members.join_week[self.member_id])

    @property
    def exit_reason(self) -> str:
        return EXIT_NAMES[self.model.engine.members.exit_reason[self.member_id]]

    @property
    def slot(self) -> int:
        return int(self.model.engine.members.slot[self.member_id])

    @property
    def tenure_weeks(self) -> int:
        return self.model.engine.week - self.join_week

    needs_per_week = _account("needs_per_week", "business size: client needs met per week")
    margin = _account("margin", "gross margin")
    hourly_value = _account("hourly_value", "EUR per hour")
    referral_propensity = _account("referral_propensity", "willingness to refer")
    willingness_to_pay = _account("willingness_to_pay", "first-year EUR it accepts to pay")
    patience = _account("patience", "years before it asks the full expected ROI")
    business_received = _account("business_received", "EUR of converted referrals received")
    business_given = _account("business_given", "EUR of converted referrals given")
    referrals_given = _account("referrals_given", "referrals passed")
    referrals_received = _account("referrals_received", "referrals received")
    direct_sales = _account("direct_sales", "EUR sold directly to members (hunters)")
    social_value = _account("social_value", "EUR of social value of strong ties")
    fees_paid = _account("fees_paid", "EUR of fees paid")
    hours = _account("hours", "hours spent on the club")
    time_cost = _account("time_cost", "EUR value of those hours")

    # dynamic state
    attendance_habit = _slot_state("attendance_habit", "probability of attending a meeting")
    expectation = _slot_state("expectation", "ROI it expects")
    perceived_gain = _slot_state("perceived_gain", "smoothed weekly gain, EUR")
    perceived_cost = _slot_state("perceived_cost", "smoothed weekly cost, EUR")

    @property
    def perceived_roi(self) -> float:
        return (self.perceived_gain - self.perceived_cost) / max(self.perceived_cost, 1.0)

    @property
    def roi(self) -> float:
        """ROI so far (`sim.model.metrics.roi`)."""
        return float(roi(*(getattr(self, name) for name in ROI_INPUTS)))

    def tie_to(self, other: Member) -> float:
        """This member's trust in `other`, in [0, 1]."""
        if self.slot < 0 or other.slot < 0:
            return 0.0
        return float(self.model.engine.slots.tie[self.slot, other.slot])

    @property
    def mean_tie(self) -> float:
        others = [m for m in self.model.agents if m is not self]
        return sum(self.tie_to(m) for m in others) / len(others) if others else 0.0
