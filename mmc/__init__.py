"""mmc: train multimodal fusion models under controlled missingness and watch them collapse."""

__version__ = "0.1.0"
