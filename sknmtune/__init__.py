"""sknmtune: NMTune heads for frozen pre-trained backbones, with scikit-learn ergonomics."""

__version__ = "0.1.0"
