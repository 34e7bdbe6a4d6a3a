"""The numba kernels' building blocks, and the kernels run as plain Python (NUMBA_DISABLE_JIT=1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from sim.kernels.accounts import settle_accounts
from sim.kernels.borrowed import borrowed, borrowed_item
from sim.kernels.draws import INLINE_PCG64, native_state_layout, require_pcg64, uniform
from sim.kernels.layout import N_HELD, SERIES_FIELDS, TIES_SUMMED
from sim.kernels.meeting import group_attendees_by_sector, grow_co_attendance_ties, one_to_one_partner
from sim.kernels.membership import random_index, shuffled
from sim.kernels.referrals import build_alias_table, draw_alias, draw_held_need, index_held_professions
from sim.kernels.ties import decay_ties, row_sum
from sim.kernels.week import close_week
from sim.model.engine import ClubEngine
from sim.model.market import make_market
from sim.model.scenario import load_config
from sim.model.state import allocate_club, allocate_members, allocate_slots, make_market_arrays, make_params

ROOT = Path(__file__).resolve().parent.parent
NUMBA_DISABLE_JIT = bool(config.DISABLE_JIT)


def alias_probabilities(threshold: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """The probability of each index implied by an alias table."""
    n = len(threshold)
    probability = threshold / n
    for k in range(n):
        probability[alias[k]] += (1.0 - threshold[k]) / n
    return probability


# helpers are compiled without a CPython wrapper (sim.kernels.helper): tests reach them
# through these jitted shims, compiled once per signature
@njit
def call_build_alias_table(weights, n, threshold, alias, offset):
    scratch = len(weights)
    build_alias_table(weights, n, threshold, alias, offset, np.empty(scratch), np.empty(scratch, np.int64),
                      np.empty(scratch, np.int64))


@njit
def count_alias_draws(rng, threshold, alias, n, draws):
    counts = np.zeros(n)
    for _ in range(draws):
        counts[draw_alias(rng, threshold, alias, 0, n)] += 1
    return counts


@njit
def call_index_held_professions(params, market, club):
    index_held_professions(params, market, club)


@njit
def count_held_needs(rng, params, club, sector, professions, draws):
    counts = np.zeros(professions)
    for _ in range(draws):
        counts[draw_held_need(rng, params.own_sector_boost, club, sector)] += 1
    return counts


@njit
def call_shuffled(rng, items):
    return shuffled(rng, items)


@njit
def call_random_index(rng, n):
    return random_index(rng, n)


@njit
def call_row_sum(matrix, i):
    return row_sum(matrix, i)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=1, max_size=60))
def test_alias_table_reproduces_the_weights(weights: list[float]) -> None:
    n, offset = len(weights), 3  # a table written into a segment of longer arrays
    threshold = np.zeros(n + 5)
    alias = np.zeros(n + 5, dtype=np.int64)
    call_build_alias_table(np.array(weights), n, threshold, alias, offset)
    expected = np.array(weights) / sum(weights)
    implied = alias_probabilities(threshold[offset:offset + n], alias[offset:offset + n])
    np.testing.assert_allclose(implied, expected, rtol=1e-9, atol=1e-12)


def test_alias_draws_follow_the_weights() -> None:
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    threshold = np.zeros(4)
    alias = np.zeros(4, dtype=np.int64)
    call_build_alias_table(weights, 4, threshold, alias, 0)
    counts = count_alias_draws(np.random.default_rng(3), threshold, alias, 4, 200_000)
    np.testing.assert_allclose(counts / counts.sum(), weights / weights.sum(), atol=0.005)


def test_held_needs_follow_the_boosted_demand_weights_of_held_professions() -> None:
    """Thinning and the two-table mixture give each held profession its share of a sector's needs."""
    config = load_config({}).config
    params = make_params(config)
    market = make_market(config.market, np.random.default_rng(1))
    arrays = make_market_arrays(market, config.market.own_sector_boost)
    club = allocate_club(params, arrays, root=1)
    held = [0, 5, 17, 40, 41, 99]
    club.profession_count[held] = 1
    call_index_held_professions(params, arrays, club)
    assert club.counters[N_HELD] == len(held)
    rng = np.random.default_rng(2)
    for sector in (0, 5, 11):
        boost = np.where(market.sector == sector, config.market.own_sector_boost, 1.0)
        weights = market.demand_weight * boost
        assert club.held_need_share[sector] == pytest.approx(weights[held].sum() / weights.sum())
        counts = count_held_needs(rng, params, club, sector, market.professions, 200_000)
        assert counts.sum() == counts[held].sum()  # only held professions are drawn
        np.testing.assert_allclose(counts[held] / counts.sum(), weights[held] / weights[held].sum(), atol=0.005)


@njit
def call_one_to_one_partners(rng, params, members, member, attendees, capacity):
    work = np.zeros((3, capacity), np.int64)
    sector_start, sector_end = np.full(8, -7), np.full(8, -7)  # a sector's scratch (sectors 0-6), holding garbage
    group_attendees_by_sector(members, member, attendees, work[0], work[1], work[2], sector_start, sector_end)
    partners = np.empty(len(attendees), np.int64)
    for k in range(len(attendees)):
        partners[k] = one_to_one_partner(rng, params, attendees, work[0], work[1], work[2], sector_start,
                                         sector_end, attendees[k])
    return partners


def one_to_one_partners_by_definition(rng, sphere_share, sector_of, attendees):
    """docs/ODD.md 7.1's one-to-ones, written plainly: with probability `sphere_share` a uniform pick among
    the other attendees of i's sector (in slot order), when there is one; otherwise among all other attendees."""
    partners = []
    for i in attendees:
        if sphere_share > 0.0 and rng.random() < sphere_share:
            sphere = [a for a in attendees if a != i and sector_of[a] == sector_of[i]]
            if sphere:
                partners.append(sphere[min(int(rng.random() * len(sphere)), len(sphere) - 1)])
                continue
        j = attendees[min(int(rng.random() * (len(attendees) - 1)), len(attendees) - 2)]
        partners.append(attendees[-1] if j == i else j)  # uniform among the others: i's draw goes to the last
    return partners


@given(st.lists(st.integers(min_value=0, max_value=6), min_size=2, max_size=45), st.data(),
       st.sampled_from([0.0, 0.3, 1.0]), st.integers(min_value=0, max_value=2**32))
@settings(max_examples=80, deadline=None)
def test_one_to_one_partners_are_drawn_as_odd_says(sectors: list[int], data, sphere_share: float,
                                                    seed: int) -> None:
    """The sector grouping that finds sphere partners in constant time draws, number for number, the
    partner that a search of every attendee's sector would."""
    capacity = len(sectors)
    attending = data.draw(st.lists(st.booleans(), min_size=capacity, max_size=capacity).filter(lambda a: sum(a) >= 2))
    attendees = np.flatnonzero(attending).astype(np.int64)
    members = allocate_members(capacity + 3)  # member ids are not slots: a member's record is elsewhere
    member = np.arange(capacity, dtype=np.int64)[::-1] + 3
    members.sector[member] = sectors
    params = make_params(load_config({"ties": {"sphere_one_to_one": sphere_share}}).config)
    partners = call_one_to_one_partners(np.random.default_rng(seed), params, members, member, attendees, capacity)
    expected = one_to_one_partners_by_definition(np.random.default_rng(seed), sphere_share, sectors, list(attendees))
    assert list(partners) == expected


@njit
def call_grow_co_attendance_ties(params, slots, attendees, is_hunter, slots_used):
    grow_co_attendance_ties(params, slots, attendees, is_hunter, slots_used)


@given(st.integers(min_value=2, max_value=45), st.data(), st.sampled_from([0.0, 0.05, 0.5, 1.0]))
@settings(max_examples=60, deadline=None)
def test_co_attendance_grows_ties_towards_the_ceilings_sales_left(used: int, data, trust_loss: float) -> None:
    """docs/ODD.md 7.1 and 7.3: each attendee's tie to each other attendee grows towards (1 - trust_loss)^k after
    k sales, as the kernel computes apart the ties to whoever sold (`Slots.sellers`), and nothing else changes."""
    config = load_config({"club": {"capacity": 50}, "hunting": {"trust_loss": trust_loss},
                          "ties": {"hunter_growth_factor": 0.3}}).config
    params = make_params(config)
    slots = allocate_slots(params)
    rng = np.random.default_rng(data.draw(st.integers(min_value=0, max_value=2**32)))
    attending = data.draw(st.lists(st.booleans(), min_size=used, max_size=used).filter(lambda a: sum(a) >= 2))
    attendees = np.flatnonzero(attending).astype(np.int64)
    is_hunter = np.zeros(50, dtype=np.int64)
    is_hunter[:used] = rng.random(used) < 0.3
    slots.tie[:used, :used] = rng.random((used, used))
    np.fill_diagonal(slots.tie, 0.0)
    sold = (rng.random((used, used)) < 0.3) & (is_hunter[:used] == 1)[None, :]
    slots.sales[:used, :used] = np.where(sold, rng.integers(1, 5, (used, used)), 0)
    np.fill_diagonal(slots.sales, 0)
    slots.sellers[:] = np.count_nonzero(slots.sales, axis=1)
    expected = slots.tie.copy()
    shared = min(1.0, params.attention_span / (len(attendees) - 1))
    for i in attendees:
        for j in attendees:
            if i != j:
                g = params.co_attendance_growth * shared * (
                    params.hunter_growth_factor if is_hunter[i] or is_hunter[j] else 1.0)
                ceiling = (1.0 - trust_loss) ** slots.sales[i, j]
                expected[i, j] += g * (ceiling - expected[i, j])
    call_grow_co_attendance_ties(params, slots, attendees, is_hunter, np.int64(used))
    np.testing.assert_allclose(slots.tie, expected, rtol=0, atol=1e-14)


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=0, max_value=2**32))
@settings(max_examples=40, deadline=None)
def test_shuffled_is_a_permutation_and_random_index_in_range(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    items = np.arange(n, dtype=np.int64) * 3
    order = call_shuffled(rng, items)
    assert sorted(order) == list(items)
    assert 0 <= call_random_index(rng, n) < n


@given(st.lists(st.floats(min_value=0, max_value=1), max_size=57))
@settings(max_examples=40, deadline=None)
def test_row_sum_is_the_sum(values: list[float]) -> None:
    matrix = np.array([[0.5] * len(values), values, [2.0] * len(values)], dtype=np.float64)
    assert call_row_sum(matrix, 1) == pytest.approx(sum(values), abs=1e-12)


@njit
def uniforms_mixed_with_numba_draws(rng, n):
    """n numbers: `uniform`, with numba's own `random` and `standard_normal` between them."""
    out = np.empty(n)
    for k in range(n):
        if k % 5 == 3:
            out[k] = rng.standard_normal()
        elif k % 5 == 4:
            out[k] = rng.random()
        else:
            out[k] = uniform(rng)
    return out


@given(st.integers(min_value=0, max_value=2**63 - 1))
@settings(max_examples=30, deadline=None)
def test_uniform_is_the_stream_of_numpy_random(seed: int) -> None:
    """The inlined PCG64 step gives numpy's numbers and leaves numpy's state where numpy would."""
    jit, numpy = np.random.default_rng(seed), np.random.default_rng(seed)
    drawn = uniforms_mixed_with_numba_draws(jit, 500)
    expected = np.array([numpy.standard_normal() if k % 5 == 3 else numpy.random() for k in range(500)])
    np.testing.assert_array_equal(drawn, expected)
    assert jit.bit_generator.state == numpy.bit_generator.state
    assert jit.integers(2**62) == numpy.integers(2**62)


def test_engines_refuse_a_generator_that_is_not_pcg64() -> None:
    """Other bit generators keep other state where the inline step reads PCG64's (a crash, or a
    silently different stream with PCG64DXSM): the engines refuse them."""
    from sim.model.engine import ClubEngine
    from sim.model.region import RegionEngine

    rng = np.random.default_rng(1)
    assert require_pcg64(rng) is rng
    config = load_config(ROOT / "scenarios" / "bni_chapter.yaml", {"years": 1}).config
    region = load_config(ROOT / "scenarios" / "bni_chapter.yaml", {"years": 1, "region.clubs": 2}).config
    for bit_generator in (np.random.MT19937(1), np.random.PCG64DXSM(1)):
        with pytest.raises(TypeError, match="PCG64"):
            ClubEngine(config, np.random.Generator(bit_generator))
        with pytest.raises(TypeError, match="PCG64"):
            RegionEngine(region, np.random.Generator(bit_generator))


def test_state_layout_check_tells_native_from_emulated_128_bit_integers() -> None:
    """numpy without native 128-bit integers (MSVC) keeps PCG64's state as (high, low) halves; then
    `uniform` must not inline its step. Linux builds of numpy (gcc, clang) are the native kind."""
    state, increment = (7 << 64) + 3, (11 << 64) + 5
    native = state.to_bytes(16, "little") + increment.to_bytes(16, "little")
    halves = b"".join(half.to_bytes(8, "little") for half in (7, 3, 11, 5))
    assert native_state_layout(native, state, increment, "little")
    assert not native_state_layout(halves, state, increment, "little")
    if sys.platform.startswith("linux"):
        assert INLINE_PCG64


RUN = """
import json, sys
from sim.model.runner import simulate
result = simulate({SCENARIO}, 5)
summary = result.summary
summary.pop("clubs", None)
print(json.dumps(summary, sort_keys=True))
"""
CLUB = {"years": 2, "club": {"attendance_rule": {"enabled": True}, "selection": {"policy": "interview"}}}
REGION = {"years": 1, "club": {"founders": 20}, "region": {"clubs": 3, "interclub_events_per_year": 12}}


@pytest.mark.parametrize("scenario", [CLUB, REGION], ids=["club", "region"])
def test_kernels_run_as_plain_python_with_the_same_results(scenario: dict) -> None:
    """NUMBA_DISABLE_JIT=1 (debugging) runs the same kernels as Python and draws the same numbers.

    Only the last bits of floats may differ (numba's exp vs numpy's), never a count.
    """
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    run = RUN.replace("{SCENARIO}", repr(scenario))
    plain = subprocess.run([sys.executable, "-c", run], env=env, capture_output=True, text=True, cwd=ROOT, check=True)
    jitted = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, cwd=ROOT, check=True)
    plain_summary, jit_summary = json.loads(plain.stdout), json.loads(jitted.stdout)
    assert plain_summary.keys() == jit_summary.keys()
    for key, value in jit_summary.items():
        if isinstance(value, dict):
            assert plain_summary[key] == pytest.approx(value, rel=1e-9), key
        elif isinstance(value, float):
            assert plain_summary[key] == pytest.approx(value, rel=1e-9), key
        else:
            assert plain_summary[key] == value, key


# ------------------------------------------------------------------ borrowed state


def _meminfo(context, builder, signature, args):
    """The owner (`meminfo`) of the array an intrinsic was given (LLVM codegen)."""
    return cgutils.create_struct_proxy(signature.args[0])(context, builder, value=args[0]).meminfo


@intrinsic
def _counted(typingctx, array):
    """Whether numba counts references to `array` (its owner, `meminfo`, is not null)."""

    def codegen(context, builder, signature, args):
        meminfo = _meminfo(context, builder, signature, args)
        return builder.icmp_unsigned("!=", meminfo, cgutils.get_null_value(meminfo.type))

    return types.boolean(array), codegen


class _State(NamedTuple):
    counts: np.ndarray
    weights: np.ndarray
    flags: np.ndarray


@njit
def _write_through_borrowed(outer, rng, i):
    outer = borrowed(outer)
    rng = borrowed(rng)
    state = outer[0]
    # Writes at a variable index followed by an inlined draw: the writes numba's dead-code
    # elimination deletes unless it knows that `borrowed(x)` aliases x (numba issue #10041).
    state.counts[i] = 7
    state.weights[0, i] = 2.5
    state.flags[i + 1] = True
    counted = (_counted(state.counts), _counted(state.weights), _counted(state.flags), _counted(rng))
    return counted, uniform(rng), rng.standard_normal()


@njit
def _draw(rng):
    return uniform(rng), rng.standard_normal()


@pytest.mark.skipif(NUMBA_DISABLE_JIT, reason="reference counting exists only in compiled code")
def test_borrowed_state_is_the_callers_without_reference_counting():
    """`borrowed` (sim.kernels.borrowed) drops the reference counting of a nested state tuple's
    arrays, while reads, writes and the generator's draws still act on the caller's objects."""
    state = _State(np.zeros(3, np.int64), np.zeros((2, 2)), np.zeros(4, np.bool_))
    rng, twin = np.random.default_rng(8), np.random.default_rng(8)
    counted, u, z = _write_through_borrowed((state, 0.5), rng, 1)
    assert counted == (False, False, False, False)
    assert state.counts.tolist() == [0, 7, 0] and state.weights[0, 1] == 2.5
    assert state.flags.tolist() == [False, False, True, False]
    assert (u, z) == _draw(twin)  # the same numbers as the caller's generator gives ...
    assert _draw(rng) == _draw(twin)  # ... whose state the borrowed one advanced


@intrinsic
def _references(typingctx, array):
    """The reference count of `array`'s owner (the first word of numba's MemInfo); it must have one."""

    def codegen(context, builder, signature, args):
        meminfo = _meminfo(context, builder, signature, args)
        return builder.load(builder.bitcast(meminfo, cgutils.intp_t.as_pointer()))

    return types.intp(array), codegen


@njit
def _references_of_item(states, i):
    return _references(states[i].counts)


@njit
def _write_through_borrowed_items(states, records, i, times):
    """Item i of two typed lists, fetched `times` times without counting, written through once."""
    for _ in range(times):
        state = borrowed_item(states, i)
        state.counts[i] += 1
    state = borrowed_item(states, i)
    record = borrowed_item(records, i)
    record[0].value = 4.5  # a field of a structured array's first record
    return _counted(state.counts), _counted(state.weights), _counted(record)


@pytest.mark.skipif(NUMBA_DISABLE_JIT, reason="reference counting exists only in compiled code")
def test_a_borrowed_item_is_the_lists_without_reference_counting():
    """`borrowed_item(items, c)` reads a typed list's item in place: not counted (fetching it a thousand
    times leaves its reference count as it was), and writes through it reach the list's arrays."""
    from numba.typed import List

    states = List([_State(np.zeros(3, np.int64), np.zeros((2, 2)), np.zeros(4, np.bool_)) for _ in range(3)])
    records = List([np.zeros(2, dtype=[("value", np.float64), ("count", np.int64)]) for _ in range(3)])
    _write_through_borrowed_items(states, records, 1, 1)
    before = _references_of_item(states, 2)
    counted = _write_through_borrowed_items(states, records, 2, 1000)
    assert _references_of_item(states, 2) == before
    assert counted == (False, False, False)
    assert states[2].counts.tolist() == [0, 0, 1000] and states[1].counts.tolist() == [0, 1, 0]
    assert records[2]["value"].tolist() == [4.5, 0.0] and records[0]["value"].tolist() == [0.0, 0.0]


# ------------------------------------------------------------------ numba's dead-code elimination

DEAD_WRITES = """
import json, sys
from numba.core import ir, ir_utils

writes = (ir.SetItem, ir.StaticSetItem, ir.SetAttr)
removed, seen = [], set()
remove_dead_block = ir_utils.remove_dead_block


def spying(block, *args, **kwargs):
    before = [s for s in block.body if isinstance(s, writes)]
    result = remove_dead_block(block, *args, **kwargs)
    kept = {id(s) for s in block.body}
    func_ir = args[5] if len(args) > 5 else kwargs["func_ir"]
    seen.add(func_ir.func_id.func_qualname)
    removed.extend(f"{func_ir.func_id.func_qualname}: {s.loc.filename.rsplit('/', 1)[-1]}, line {s.loc.line}: {s}"
                   for s in before if id(s) not in kept)
    return result


ir_utils.remove_dead_block = spying  # remove_dead looks it up in the module at each call

from sim.model.club import ClubModel
from sim.model.runner import simulate

for scenario in {SCENARIOS}:
    simulate(scenario, 5)
simulate({SCENARIOS}[-1], 5, threads=2)  # a region's week phase by phase, on a thread pool
model = ClubModel({STEPPED}, rng=5)
for _ in range(60):
    model.step()
print(json.dumps({"removed": sorted(set(removed)), "seen": sorted(seen)}))
"""
# between them, these compile every kernel the engines call: the club's week with its options (team work,
# contribution rule, monthly billing, the attendance rule, interviews), a region with the second circle,
# and each phase kernel on its own (ClubModel.step)
DEAD_WRITE_SCENARIOS = [
    {"years": 2, "club": {"composition": {"policy": "complementarity", "team_work": 0.5},
                          "attendance_rule": {"enabled": True}, "selection": {"policy": "interview"},
                          "contribution_rule": {"enabled": True}, "fees": {"billing": "monthly"}}},
    {"years": 1, "club": {"founders": 20}, "region": {"clubs": 3, "interclub_events_per_year": 12}},
]


@pytest.mark.skipif(NUMBA_DISABLE_JIT, reason="numba's compiler passes run only when it compiles")
def test_numba_removes_no_write_to_the_state(tmp_path: Path) -> None:
    """Numba's IR dead-code elimination deletes an array write when it does not know the array may alias
    an argument: through a tuple unpacking, after an inlined overload (numba issue #10041; it once cost
    the region two writes, docs/performance.md). Compiled from an empty cache with that pass watched,
    no kernel may lose a write. (The pass's other deletion, of a whole-array in-place operation such as
    `a += b`, is not watched: no kernel writes one.)"""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    code = DEAD_WRITES.replace("{SCENARIOS}", repr(DEAD_WRITE_SCENARIOS)).replace("{STEPPED}", repr({"years": 2}))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # the pass was watched as the kernels compiled (not loaded from a cache, not renamed by a new numba)
    # the club's week, its phases on their own, and the region's (run_region_weeks and the thread pool call the
    # same phase functions; the second circle, transfers and interclub events are inlined into their phase's
    # entry, where the region's arrays are borrowed, so their writes are watched there; an event's meetings,
    # `lane_areas_meet`, inline no overload, and the pass runs only after one is inlined)
    assert {"run_weeks", "hold_meeting", "pass_referrals", "members_decide", "lane_meet_and_refer",
            "lane_second_circle", "lane_settle_and_decide", "region_meet_entry",
            "region_transfer_and_untie_entry"} <= set(report["seen"])
    assert report["removed"] == []


@pytest.mark.parametrize("change", ["none", "joins", "exits"])
def test_ties_summed_as_they_decay_give_the_accounts_and_the_mean_tie_that_the_matrix_gives(change: str) -> None:
    """A region's clubs count their strong ties and sum their ties as the ties decay (`decay_ties` with
    `sum_ties`); the week's accounts and close read those figures instead of the tie matrix, unless a member
    joined or left in between. The members' social value and perceived values, and the week's series row,
    must be the ones read from the matrix, to the bit: in a week when no one joins or leaves, one when members
    join and none leave, and one when members leave and none join."""
    config = load_config(ROOT / "scenarios" / "bni_chapter.yaml").config
    probe = ClubEngine(config, np.random.default_rng(11))
    probe.run_to(400)
    joins, exits = (probe.series[:, SERIES_FIELDS.index(name)] for name in ("joins", "exits"))
    wanted = {"none": (joins == 0) & (exits == 0), "joins": (joins > 0) & (exits == 0),
              "exits": (joins == 0) & (exits > 0)}[change]
    week = 100 + int(np.argmax(wanted[100:]))
    assert wanted[week]
    engines = {}
    for sum_ties in (False, True):
        engine = ClubEngine(config, np.random.default_rng(11))
        engine.run_to(week)
        meeting = engine.is_meeting_week()
        engine.restart_streams()
        if meeting:
            engine.hold_meeting()
        engine.pass_referrals()
        if meeting:
            engine.hunt()
        decay_ties(engine.params, engine.slots, engine.club, sum_ties)
        assert engine.club.counters[TIES_SUMMED] == sum_ties
        settle_accounts(engine.params, engine.members, engine.slots, engine.club, engine.week, sum_ties)
        engine.members_decide()
        engine.apply_club_rules(meeting)
        close_week(engine.slots, engine.club, engine.series, engine.week, sum_ties)
        engines[sum_ties] = engine
    read, summed = engines[False], engines[True]
    np.testing.assert_array_equal(read.series[week], probe.series[week])  # the week as the run had it
    np.testing.assert_array_equal(summed.series[week], read.series[week])
    present = read.slots.member >= 0
    assert (read.slots.tie[present] >= read.params.strong_threshold).any()  # social value to get right
    for field in ("social_value", "fees_paid", "business_received"):
        np.testing.assert_array_equal(summed.members[field], read.members[field])
    np.testing.assert_array_equal(summed.slots.perceived_gain, read.slots.perceived_gain)
    np.testing.assert_array_equal(summed.slots.perceived_cost, read.slots.perceived_cost)
