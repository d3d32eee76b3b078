"""The Universal Scalability Law fit (moneypath.loadtest.command.capacity.usl)."""

from __future__ import annotations

import pytest

from moneypath.loadtest.command.capacity import usl


def test_the_usl_fit_recovers_known_parameters_and_its_peak():
    truth = usl.Usl(50, 0.05, 0.0008, 1.0)
    fitted = usl.fit([(n, truth.throughput(n)) for n in (1, 4, 8, 16, 32, 64)])
    assert fitted.lam == pytest.approx(50, rel=0.02) and fitted.sigma == pytest.approx(0.05, abs=0.005)
    assert fitted.kappa == pytest.approx(0.0008, rel=0.05) and fitted.r2 > 0.999
    assert fitted.peak_concurrency == pytest.approx(34.5, rel=0.03)
    assert usl.Usl(10, 0.1, 0.0, 1).peak_throughput == pytest.approx(100)  # no coherency cost: the asymptote
    with pytest.raises(usl.FitError, match="3 points"):
        usl.fit([(1, 10), (2, 19)])
