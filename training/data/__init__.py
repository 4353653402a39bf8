"""Paired data for training and evaluation: the generic manifest and the paper's data sets."""
