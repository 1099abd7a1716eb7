"""Read spectra as pictures: the singular values of F and of a head's Z, with SVE / LSVR / RankMe."""

import numpy as np
from sklearn.datasets import load_digits

from sknmtune import NMTuneClassifier, plot_spectrum, spectral_summary

X, y = load_digits(return_X_y=True)
F = (X / 16.0).astype(np.float32)  # stand-in for frozen backbone features

heads = {
    "MLP": NMTuneClassifier.from_preset("mlp", max_epochs=10, random_state=0).fit(F, y),
    "NMTune": NMTuneClassifier.from_preset("nmtune-paper", max_epochs=10, random_state=0).fit(F, y),
}
matrices = {"F": F, **{f"Z ({name})": head.transform(F) for name, head in heads.items()}}

for name, M in matrices.items():
    s = spectral_summary(M)
    print(f"{name:12s} SVE {s['sve']:.3f}  LSVR {s['lsvr']:.3f}  RankMe {s['rankme']:.1f}")

axes = plot_spectrum(matrices, groups=(20,))  # top-20 singular values, then the rest
axes[0].figure.savefig("spectrum.png", dpi=120)
print("wrote spectrum.png")
