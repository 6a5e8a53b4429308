"""Reports and plots of training runs (only the CLI and these modules draw):

- `run_report`: a run's history.csv, loss/accuracy/learning-rate curves, confusion matrix, metrics.json and
  report.md;
- `backprop_report`: the backprop statistics of `npnet train --inspect` (backprop.csv) as plots, findings and
  the report's "Backprop" section.
"""
