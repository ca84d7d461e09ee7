"""DVC stage `ablation`: a thin shim over `lies.pipeline.runner.run_stage` (see dvc.yaml and params.yaml section `ablation`)."""

from lies.cli import stage_main

if __name__ == "__main__":
    stage_main("ablation")
