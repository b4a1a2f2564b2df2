"""egoimu_jax: cross-person activity recognition from egocentric video and body-worn IMU."""

__version__ = "0.1.0"
