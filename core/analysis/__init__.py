"""Layer 5: streaming analysis, lags, estimates, results, the state point, summaries, figures, standalone analysis."""
