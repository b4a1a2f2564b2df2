"""Closing the cross-person gap: person-aware normalisation, domain
generalisation with workers as domains, test-time adaptation and few-shot
personalisation (the calibration curve)."""
