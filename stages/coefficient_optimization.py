"""DVC stage `coefficient_optimization`: a thin shim over `lies.pipeline.runner.run_stage` (see dvc.yaml and params.yaml section `coefficient_optimization`)."""

from lies.cli import stage_main

if __name__ == "__main__":
    stage_main("coefficient_optimization")
