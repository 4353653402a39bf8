"""edgebind.drivers: live sensor sources (microphone, RealSense depth, thermal cameras, IMU)."""
