"""``pwave.units``: what a wrong call is told (the formula itself is checked in
``test_train_utils.py`` and against direct computations in ``test_score_edges.py``)."""

import pytest
import torch

from pwave.units import bits_per_sample


@pytest.mark.parametrize("n", [0, -3])
def test_bits_per_sample_names_a_count_that_is_not_positive(n):
    with pytest.raises(ValueError, match=rf"num_samples must be positive, got {n}"):
        bits_per_sample(torch.tensor(-1.0), n)
