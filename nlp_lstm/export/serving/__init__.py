"""TF Serving deployment helpers: op compatibility check, warmup, models.config.

- `opcheck`: every op of a SavedModel against a TF Serving release's op set.
- `warmup`: `assets.extra/tf_serving_warmup_requests` (PredictionLog records).
- `models_config`: the `models.config` text proto for a SavedModel root.
- `client`: REST and gRPC clients of a running model server, with retries.
"""
