"""Small apps the tests serve under `obs run` (real servers, real requests)."""
