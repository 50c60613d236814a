from agent.sweep.budget import Budget


def test_without_a_cap_every_issue_may_start() -> None:
    budget = Budget(limit_usd=None, typical_usd=5.0)
    assert all(budget.reserve() for _ in range(100))


def test_the_typical_cost_decides_before_any_issue_finished() -> None:
    budget = Budget(limit_usd=1.0, typical_usd=0.3)
    assert [budget.reserve() for _ in range(4)] == [True, True, True, False]


def test_the_running_mean_replaces_the_typical_cost() -> None:
    budget = Budget(limit_usd=1.0, typical_usd=0.5)
    assert budget.reserve()
    budget.settle(0.1)
    assert budget.estimate_usd == 0.1
    # 0.1 spent, nine more at 0.1 fit exactly; the tenth would go over.
    assert [budget.reserve() for _ in range(10)] == [True] * 9 + [False]


def test_issues_in_flight_hold_their_estimate_so_concurrency_cannot_overshoot() -> None:
    budget = Budget(limit_usd=0.25, typical_usd=0.1)
    assert budget.reserve() and budget.reserve()
    assert not budget.reserve()
    budget.release()
    assert budget.reserve()


def test_spending_stops_before_the_cap_is_exceeded_even_when_costs_vary() -> None:
    budget = Budget(limit_usd=2.0, typical_usd=0.05)
    costs = iter([0.05, 0.4, 0.3, 0.2, 0.1, 0.6, 0.3, 0.1] * 5)
    while budget.reserve():
        budget.settle(next(costs))
    # After seven issues $1.95 is spent and the mean ($0.28) no longer fits under $2.
    assert budget.finished == 7
    assert round(budget.spent_usd, 6) == 1.95
