"""edgebind.training: bind audio, depth, thermal and IMU encoders to the frozen image tower."""
