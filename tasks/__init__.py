"""One package per task family, each holding everything only that family uses.

A family's package exports its `zoo.task.Task` subclass (registered with
`@zoo.task.register_task` when the package is imported) and keeps its readers,
layers, losses, metrics, synthetic data, figure, baselines and card facts beside it.
The library finds the packages through the `zoo.tasks` entry points in setup.cfg and
never imports them by name.
"""
