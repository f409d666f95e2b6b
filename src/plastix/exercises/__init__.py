"""Worked exercises as code, kept apart from the library's API: they illustrate and test the
facts the library builds on, and nothing in ``plastix`` imports them.

* ``plastix.exercises.score_function`` — the score function ("eligibility") of REINFORCE
  (Williams 1992): E[e] = 0, ∇J = E[R e] = Cov(R, e), and REINFORCE-backprop for a softmax MLP
  written out by hand (docs/policy-gradients.md, "Score-function exercises").
"""
