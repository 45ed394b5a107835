"""Machine learning on the marts: features, training, promotion, batch scoring (see ml.delay)."""
