"""The per-source VLM budget on synthetic decisions in media time: the bound, and who wins it."""

import random

from pipelines.core.decode_budget import DecodeBudget


def admitted(budget, decisions):
    return [(t, d) for t, d in decisions if budget.admit(t, d).admitted]


def test_slow_changes_are_all_admitted():
    budget = DecodeBudget(per_minute=6, burst=2)
    decisions = [(t, 2.0) for t in range(0, 600, 15)]  # 4 a minute, under the budget
    assert admitted(budget, decisions) == decisions and budget.refused == 0


def test_no_minute_ever_gets_more_than_the_budget_plus_the_burst():
    rng = random.Random(0)
    budget = DecodeBudget(per_minute=6, burst=2)
    t, decisions = 0.0, []
    for _ in range(2000):  # about 30 changes a minute, five times the budget
        t += rng.uniform(0.5, 3.5)
        decisions.append((t, rng.uniform(1.5, 5.0)))
    won = [t for t, _ in admitted(budget, decisions)]
    for start in range(0, int(t) - 60):
        assert sum(start <= w < start + 60 for w in won) <= 6 + 2
    assert 5.0 <= len(won) / (t / 60) <= 6.0  # and the budget is spent, not left idle
    assert budget.admitted == len(won) and budget.refused == len(decisions) - len(won)


def test_above_the_budget_the_largest_drifts_win():
    rng = random.Random(1)
    budget = DecodeBudget(per_minute=6, burst=2)
    decisions = [(i * 2.5, rng.choice([2.0, 8.0])) for i in range(1000)]  # 24 a minute, half of them large
    won = admitted(budget, decisions)
    large_share = sum(d == 8.0 for _, d in won) / len(won)
    assert large_share >= 0.95  # first come, first served would give about half
    assert sum(d == 2.0 for _, d in decisions) > 400  # (the small ones were there to be taken)


def test_small_changes_leave_a_token_for_a_large_one():
    budget = DecodeBudget(per_minute=2, burst=2)
    assert budget.admit(0.0, 9.0).admitted and budget.admit(1.0, 8.0).admitted  # the bucket is empty
    small = [(float(t), 1.0) for t in range(3, 58, 3)]  # 19 small changes while it refills to 1.9
    assert admitted(budget, small) == []
    assert budget.admit(58.0, 9.5).admitted  # first come, first served would have spent it on a small one
    verdict = budget.admit(59.0, 9.6)
    assert not verdict.admitted and "over budget" in verdict.why  # and the bound holds


def test_no_budget_admits_everything_and_spent_counts_the_last_minute():
    budget = DecodeBudget(per_minute=0, burst=1)
    assert all(budget.admit(float(t), 1.0).admitted for t in range(100))
    assert budget.spent_last_minute() == 60  # t in (39, 99]
