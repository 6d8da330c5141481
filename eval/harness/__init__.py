"""The evaluation harness: tasks, baselines, metrics, a resumable runner and reports.

    from eval.harness import EvalConfig, Harness, write_report
    harness = Harness(dataset, out="eval/results/run")            # index/backend loaded only if a model needs them
    result = harness.run(EvalConfig(task="both", models=["baselines"], max_series=500))
    write_report(result, "eval/results/run", panel=harness.panel)

The CLI (`shelfcast eval`, eval/cli.py) does the same with progress bars.
"""

from eval.harness.baselines import BASELINES, CHAIN_MODELS, MODELS, REFERENCE, resolve_models
from eval.harness.runner import EvalConfig, EvalResult, Harness, TaskResult
from eval.harness.tasks import EvalTask, Panel, TaskError, existing_task, new_product_task


def write_report(*args, **kwargs):
    """See eval.harness.report.write_report (imported lazily: it loads matplotlib)."""
    from eval.harness.report import write_report as _write

    return _write(*args, **kwargs)


__all__ = ["BASELINES", "CHAIN_MODELS", "MODELS", "REFERENCE", "EvalConfig", "EvalResult", "EvalTask", "Harness",
           "Panel", "TaskError", "TaskResult", "existing_task", "new_product_task", "resolve_models", "write_report"]
