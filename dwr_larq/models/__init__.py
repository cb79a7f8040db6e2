"""Model definition: backbone specs (no TensorFlow), Larq layers and blocks, the builder,
cost figures and input preprocessing."""
