"""The pipeline of typed stages (Fig. 3): the stage table (`lies.pipeline.stages`), the artifacts they hand each
other (`lies.pipeline.artifacts`), the engine that batches and fans out work (`lies.pipeline.engine`), evaluation,
and `Pipeline` to compose stages in memory or run one on disk for DVC (`lies.pipeline.runner`)."""

from lies.pipeline.runner import Pipeline, PipelineResult, apply_stage, load_artifact, run_stage

__all__ = ["Pipeline", "PipelineResult", "apply_stage", "load_artifact", "run_stage"]
