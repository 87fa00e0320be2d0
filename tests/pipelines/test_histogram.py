"""The fixed-bucket histogram behind the step-latency metric."""

import pytest

from pipelines.histogram import Histogram


def test_values_land_in_the_first_bucket_whose_bound_is_at_least_them():
    h = Histogram((0.01, 0.1, 1.0))
    for v in (0.001, 0.01, 0.05, 0.1, 0.5, 3.0):
        h.observe(v)
    assert h.counts == [2, 2, 1, 1]  # 0.01 is "le 0.01"; 3.0 is above every bound
    assert h.cumulative() == [2, 4, 5, 6]
    assert h.sum == pytest.approx(3.661)


@pytest.mark.parametrize("bounds", [(), (0.1, 0.1), (1.0, 0.5)])
def test_bounds_must_increase(bounds):
    with pytest.raises(ValueError, match="increasing"):
        Histogram(bounds)
