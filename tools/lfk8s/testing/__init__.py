"""Test support that the product never imports (the layer rule enforces it): what the pinned
upstream software accepts, read from its wheels, and rendered pods run as local processes."""
