"""Image–text retrieval and multimodal dataset distillation (LoRS baseline, RepBlend).

Frozen image/text features -> a dual encoder of projection heads trained contrastively ->
IR@k / TR@k. `remedy=repblend` condenses the training pairs into a few hundred learned ones
first (trajectory matching); `data.coreset` selects real pairs instead.
"""
