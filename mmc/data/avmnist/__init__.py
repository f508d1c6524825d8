"""avMNIST: MNIST digits paired with spoken digits (Free Spoken Digit Dataset).

- `multibench.load_avmnist`: the MultiBench files (image 28x28, audio 112x112 spectrograms).
- `small.load_avmnist_small`: SMIL/ShaSpec's 1,500-pair setting with 20x20 MFCC audio.
- `builder.build_avmnist` / `builder.build_avmnist_small`: both layouts from raw MNIST idx
  files and FSDD wav files (`mmc prepare dataset=avmnist ...`).
"""
