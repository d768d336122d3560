"""Adapters turn Instances into Requests (prompts) and the Results back into predictions: one class per AdapterSpec
method (generation.py, multiple_choice_joint.py, multiple_choice_separate.py) on a shared base (base.py), made by
registry.make_adapter."""
