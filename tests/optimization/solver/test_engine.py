import numpy as np
import pytest

from optimization.solver.engine import CountingModel, evaluate, parallel, run


def _two_rounds(rows):
    first = yield rows
    second = yield rows * 2
    return float(first.sum() + second.sum())


def test_parallel_searches_share_one_model_call_per_round():
    """Searches in lockstep cost as many calls as the longest of them, not the sum."""
    # given
    seen = []

    def predict(levers):
        seen.append(len(levers))
        return levers[:, :1].copy()

    model = CountingModel(predict, horizon=1)

    # when
    results = run(
        model,
        parallel(
            [
                _two_rounds(np.ones((2, 7))),
                evaluate(np.full((3, 7), 5.0)),
                _two_rounds(np.ones((1, 7))),
            ]
        ),
    )

    # then
    assert seen == [6, 3]
    assert model.calls == 2
    assert model.rows == 9
    assert results[0] == 2.0 + 4.0
    assert results[1].ravel().tolist() == [5.0, 5.0, 5.0]
    assert results[2] == 1.0 + 2.0


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (np.ones((2, 3)), "shape"),
        (np.ones((1, 1)), "months"),
        (np.full((1, 3), np.nan), "non-finite"),
    ],
)
def test_counting_model_rejects_malformed_model_output(output, message):
    """A forward model returning the wrong shape or NaN fails loudly."""
    model = CountingModel(lambda levers: output, horizon=2)
    with pytest.raises(ValueError, match=message):
        model(np.zeros((1, 7)))


def test_counting_model_ignores_months_beyond_the_horizon():
    """A model may forecast further than asked; the extra months are dropped."""
    model = CountingModel(lambda levers: np.arange(12.0)[None].repeat(2, 0), horizon=3)
    assert model(np.zeros((2, 7))).tolist() == [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]
