"""DVC stage `node_pruning`: a thin shim over `lies.pipeline.runner.run_stage` (see dvc.yaml and params.yaml section `node_pruning`)."""

from lies.cli import stage_main

if __name__ == "__main__":
    stage_main("node_pruning")
