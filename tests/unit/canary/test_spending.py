"""The error spending the canary's tests share: published boundaries, the error rate however many looks, the
planned maximum that keeps the power."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from moneypath.canary.spending import _Density, boundaries, crossing_probability, inflation, spent

Z_95, Z_80 = 1.6448536269514722, 0.8416212335729143  # the standard normal's 0.95 and 0.80 quantiles


def test_boundaries_match_published_hwang_shih_decani_values():
    # gsDesign's default design, gsDesign(k = 3, test.type = 1) (one-sided alpha 0.025, sfHSD with gamma -4), prints
    # upper bounds 3.01 2.55 2.00; with k = 5, 3.25 2.99 2.69 2.37 2.03.
    assert boundaries([1 / 3, 2 / 3, 1.0], 0.025) == pytest.approx([3.01, 2.55, 2.00], abs=6e-3)
    assert boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.025) == pytest.approx([3.25, 2.99, 2.69, 2.37, 2.03], abs=6e-3)
    # One look is the fixed-sample test.
    assert boundaries([1.0], 0.05) == pytest.approx([Z_95], abs=1e-6)
    assert spent(0.0, 0.05) == 0 and spent(1.0, 0.05) == 0.05 and spent(0.5, 0.05) < spent(0.6, 0.05)
    # It spends a little from the start: a look at 2 % of the plan may fail at z 4.4 (O'Brien-Fleming's: 21.5)
    assert boundaries([0.02, 1.0], 0.005)[0] == pytest.approx(4.35, abs=0.05)


def test_the_error_rate_stays_alpha_however_many_looks():
    for looks in (3, 40, 200):  # unequal spacing: the fractions crowd towards the end
        fractions = [((k + 1) / looks) ** 0.7 for k in range(looks)]
        bounds = boundaries(fractions, 0.01)
        # measured on a grid twice as fine as the one that placed the boundaries
        assert crossing_probability(fractions, bounds, 0.0, spacing=0.0025) == pytest.approx(0.01, rel=5e-3)


def test_the_planned_maximum_keeps_the_power_against_the_designed_effect():
    alpha, power = 0.05 / 7, 0.8
    r = inflation(alpha, power)
    assert 1.0 < r < 1.1
    fractions = [(k + 1) / 50 for k in range(50)]
    drift = Z_80 + 2.4497  # the score's drift under the designed effect: z_{1 - 0.05/7} + z_{0.8}
    achieved = crossing_probability([r * t for t in fractions], boundaries(fractions, alpha), drift)
    assert achieved == pytest.approx(0.8, abs=0.01)
    assert crossing_probability(fractions, boundaries(fractions, alpha), drift) < achieved  # without it, less


def test_a_boundary_is_found_right_after_a_look_that_spent_nothing():
    # A look whose information fraction did not grow (the plan grew with the baseline's share) spends nothing and
    # leaves the density's grid reaching far above its mass; a look just after must still find its boundary:
    # with nothing spent before, the first crossing probability is the plain normal tail.
    density = _Density()
    density.advance(0.3, math.inf)
    c = density.solve(0.302, math.log(0.004))
    assert c / math.sqrt(0.302) == pytest.approx(NormalDist().inv_cdf(1 - 0.004), abs=2e-3)
