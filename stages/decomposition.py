"""DVC stage `decomposition`: a thin shim over `lies.pipeline.runner.run_stage` (see dvc.yaml and params.yaml section `decomposition`)."""

from lies.cli import stage_main

if __name__ == "__main__":
    stage_main("decomposition")
