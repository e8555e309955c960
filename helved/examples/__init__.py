"""helved's examples: the spec's example files (`*.jsonl`, for `helved replay`) and the one set of
builders of dagpenger decisions that the demo, the bench's tools and the tests share."""
