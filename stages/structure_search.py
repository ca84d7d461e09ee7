"""DVC stage `structure_search`: a thin shim over `lies.pipeline.runner.run_stage` (see dvc.yaml and params.yaml section `structure_search`)."""

from lies.cli import stage_main

if __name__ == "__main__":
    stage_main("structure_search")
