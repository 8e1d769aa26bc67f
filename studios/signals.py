"""Signals the studios layer sends for the layers above it to act on.

The studios layer cannot import the forecasting layer (it sits below it); when an
import brings new months, the layers above learn of it through these signals,
connected in their ``AppConfig.ready``.
"""

from django.dispatch import Signal

#: Sent, inside the import's transaction, after monthly metrics of studios were
#: created or updated by an import; ``studio_ids`` is the set of those studios.
metrics_imported = Signal()
