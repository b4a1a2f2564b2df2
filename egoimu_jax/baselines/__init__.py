"""Classical baselines: hand-crafted IMU window features + scikit-learn models."""
