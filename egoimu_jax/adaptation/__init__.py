"""Closing the cross-person gap: domain generalisation with workers as
domains, test-time adaptation and few-shot personalisation (the calibration
curve). Person-aware normalisation is a strategy of the input pipeline
(``input_pipeline/person_norm.py``)."""
