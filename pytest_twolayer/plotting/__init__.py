"""The ``--twolayer-plots`` figures: data collected from reports, one module per figure."""
