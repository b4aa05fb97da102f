"""The pipelines as library functions: `translation.run(config)` and
`tagging.run(config)`, each returning its report. Their scripts are in
`pipelines/` (entry point: `nlp_lstm.cli.pipeline.main`)."""
