"""Formulas as sympy expressions evaluated on arrays, SRBench's symbolic check and R^2, and the formula stages'
math: rounding to zero, coefficient refits, final rounding (paper III-E, III-F)."""
