"""Choose lambda and the MLP depth with GridSearchCV, tracking accuracy, SVE and LSVR."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from sknmtune import NMTuneClassifier, SpectralScorer

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)  # stand-in for frozen backbone features

search = GridSearchCV(
    NMTuneClassifier.from_preset("nmtune-paper", max_epochs=5, random_state=0),  # short, to run fast
    param_grid={"reg_lambda": [0.0, 0.01, 0.1], "mlp_depth": [1, 2]},
    # One callable returns all three scores from one pass of the fold through the model:
    # the SVE of Z = h(F), minus its LSVR (higher is better, like sklearn's neg_* scorers), and accuracy.
    scoring=SpectralScorer(["sve", "neg_lsvr"], scoring={"accuracy": "accuracy"}),
    refit="accuracy",
    cv=3,
)
search.fit(X, y)

results = search.cv_results_
for i, params in enumerate(results["params"]):
    print(
        f"lambda={params['reg_lambda']:<5} depth={params['mlp_depth']}  "
        f"accuracy {results['mean_test_accuracy'][i]:.3f}  "
        f"SVE {results['mean_test_sve'][i]:.3f}  LSVR {-results['mean_test_neg_lsvr'][i]:.3f}"
    )
print("best:", search.best_params_)
