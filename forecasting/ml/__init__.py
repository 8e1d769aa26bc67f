"""Forecasting maths: features, the forward model, evaluation. No Django here.

Entry points: :class:`forecasting.ml.model.ForwardModel`,
:func:`forecasting.ml.frame.validate_frame` and
:func:`forecasting.ml.evaluation.evaluate`; see ``forecasting/ml/README.md``.
"""
