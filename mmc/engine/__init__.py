"""The training engine: what every runner, remedy and diagnostic trains with.

model.py      encoders and the multimodal model from the config
optim.py      optimiser and scheduler from `train.*`
loop.py       one `train_epoch` and one `fit` (epochs, keeping the best validation state)
unimodal.py   an encoder + head on one modality alone, fitted with `fit`

It sits below the runners, remedies and diagnostics and imports none of them.
"""
