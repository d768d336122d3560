"""Adapters turn Instances into Requests (prompts) and the Results back into predictions."""
