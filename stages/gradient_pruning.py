"""DVC stage `gradient_pruning`: a thin shim over `lies.pipeline.runner.run_stage` (see dvc.yaml and params.yaml section `gradient_pruning`)."""

from lies.cli import stage_main

if __name__ == "__main__":
    stage_main("gradient_pruning")
