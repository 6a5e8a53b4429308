"""Finite-difference gradient checks for npnet layers, the loss and whole models, with a per-parameter report.

    from npnet import gradcheck
    report = gradcheck.check_model(model, x, y)        # every parameter of a compiled model, against its loss
    report = gradcheck.check_layer(layer, x)           # a layer's input and parameter gradients
    report = gradcheck.check_loss(loss, y_true, y_pred)
    report.passed, report.max_rel_error, print(report)

Read it in this order: `central` (the plain central difference: the whole idea in twelve lines), `settings`
(steps and tolerances), `plans` (what to sample in each tensor), `checker` (the comparison, kinks included),
`diagnosis` (what kind of mistake and where to look), `report` (Row, Report), `api` (the three checks). The
checker knows layers and losses only through their protocol (`astype`, `sublayers`, `kink_pattern`,
`table_ids`; a loss's `kink_pattern` and `step_scale`), so a new layer or loss needs no edit here.

How a check works (docs/derivations/ derives every gradient being checked):

* Copies, never the original. The layer or model is deep-copied and cast to the check dtype (float64 by
  default); the caller's object, its dtype, weights and optimizer state stay untouched.
* One scalar objective f. check_model: the model's loss on (x, y). check_layer: sum(forward(x) * g) for a
  fixed random upstream gradient g ~ N(0, 1): backward(g) must return df/dinput and set grads to df/dparam.
  The analytic gradients are those of a *second* backward (or model.gradients) call, so a layer that
  accumulates into grads instead of overwriting them fails the check.
  check_loss: the loss itself, as a function of y_pred.
* Central differences. For element i, numeric = (f(theta + h e_i) - f(theta - h e_i)) / 2h with
  h = step * scale_i and scale_i = max(1, |theta_i|); probabilities fed to a BCE loss use their distance to 0
  or 1 instead, as -log p curves like 1/p there. step defaults to eps^(1/3) of the check dtype (6.1e-6 in
  float64), which balances the truncation error h^2 |f'''| / 6 against the rounding error eps |f| / h.
* Error measure. rel_i = |a - n| / max(|a|, |n|, atol_i / rtol), and an element passes when rel_i <= rtol,
  that is when |a - n| <= rtol * max(|a|, |n|) or |a - n| <= atol_i. The absolute part is the noise floor of
  the numeric derivative: f(theta +- h) are each off by about eps * max(1, |f|), so their difference quotient
  is off by about eps * max(1, |f|) / h; atol_i is 10 times that (the sums inside f round more than once).
  Below it no central difference can tell a gradient from zero, however right the analytic value is.
* Coverage. Tensors of at most `full_limit` elements are checked element by element. Larger ones get a screen
  along `directions` random directions d over the whole tensor (numeric directional derivative against the
  analytic <grad, d>, as torch's fast gradcheck does) plus `samples` random elements. An embedding table fed
  the batch's ids gets, instead of random elements, whole rows of each kind that goes wrong in practice: ids
  repeated in the batch, ids used once, the padding row 0 and unused rows. The analytic gradient of *every*
  unused row must be exactly zero: the loss cannot depend on a row that no id selects.
* Kinks. ReLU is not differentiable at 0, and the probability BCE is flat beyond its clip at 1e-7. Every
  evaluation records the layers' `kink_pattern()` (ReLU: which units are on) and the loss's
  `kink_pattern(y_pred)` (BCE: which probabilities are clipped); when f(theta +- h) sees
  another pattern than f(theta), the perturbation crossed a kink and its difference quotient means nothing.
  The step is then divided by 10 (`kink_retries` times); an element whose every step crosses a kink is
  reported as a kink, not judged, and never silently dropped.
"""

from __future__ import annotations

from npnet.gradcheck.api import check_layer, check_loss, check_model
from npnet.gradcheck.central import central_difference
from npnet.gradcheck.report import Report, Row
from npnet.gradcheck.settings import RTOL, Settings, default_settings

__all__ = [
    "RTOL",
    "Report",
    "Row",
    "Settings",
    "central_difference",
    "check_layer",
    "check_loss",
    "check_model",
    "default_settings",
]
