"""Tests of the command-line clients."""
