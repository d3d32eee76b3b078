"""moneypath._common.timefactor: the one conversion between a compressed stack's clock and production's."""

from __future__ import annotations

import math

import pytest

from moneypath._common.timefactor import TimeFactor


def test_wall_and_real_are_each_others_inverse():
    local = TimeFactor(60)
    assert local.real(30) == 1800  # 30 s on the local drill stack stand for 30 minutes
    assert local.wall(1800) == 30
    assert TimeFactor().real(42) == 42


def test_a_drill_written_for_the_local_stack_stretches_on_a_slower_target():
    assert TimeFactor.between(60, 60) == 1
    assert TimeFactor.between(60, 1) == 60  # the committed rules: a 30 s drill fault lasts 30 minutes
    assert TimeFactor.between(60, 10) == 6


@pytest.mark.parametrize("bad", [0, -1, math.inf, math.nan])
def test_a_factor_that_is_not_a_positive_number_is_refused(bad):
    with pytest.raises(ValueError, match="positive number"):
        TimeFactor(bad)
