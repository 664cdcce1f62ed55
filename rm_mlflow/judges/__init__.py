"""Generative judges (LLM-as-a-judge): their own package, beside the forward-pass reward models of :mod:`rm_mlflow.scoring`.

- :mod:`~rm_mlflow.judges.prompts`: the prompts and verdict parsers of each benchmark family (rewardbench-gen's);
- :mod:`~rm_mlflow.judges.backends`: where the text comes from, one backend per module (transformers, vLLM, an
  OpenAI-compatible endpoint), chosen through a registry;
- :mod:`~rm_mlflow.judges.judge`: the judge itself: what it asks per example, how answers become credit, and its model kind.
"""
