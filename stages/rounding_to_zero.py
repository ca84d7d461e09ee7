"""DVC stage `rounding_to_zero`: a thin shim over `lies.pipeline.runner.run_stage` (see dvc.yaml and params.yaml section `rounding_to_zero`)."""

from lies.cli import stage_main

if __name__ == "__main__":
    stage_main("rounding_to_zero")
