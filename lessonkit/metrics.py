"""Classification metrics beyond accuracy, and comparisons that carry their uncertainty.

Introduced in lesson 04 ("Training a CNN"); the comparison of two
classifiers below is used from lesson 02 on (two Gabor filter banks), so its
functions carry that lesson's tag. Top-k *accuracy* lives in
:func:`lessonkit.topk_accuracy` (lesson 00); the ImageNet challenge reported
its complement, the top-k *error*, which :func:`topk_error` computes from it.

"Network A is more accurate than network B" is a claim about two finite
samples of test images, so it needs a test and an interval, not just two
numbers. :func:`compare_classifiers` compares two classifiers evaluated on the
*same* images (paired: McNemar's exact test and Tango's score interval);
:func:`compare_accuracies` compares accuracies measured on *different* images
(unpaired: Fisher's exact test and Newcombe's hybrid score interval). Both
return a :class:`Comparison`, whose :meth:`Comparison.describe` gives the
sentence a lesson glues into its prose and whose ``verdict`` its check cell
asserts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ._utils import check_int, check_number, check_tensor, check_type
from .train import topk_accuracy

__all__ = ["topk_error", "confusion_matrix", "per_class_accuracy", "Comparison", "compare_classifiers", "compare_accuracies"]


def topk_error(logits: torch.Tensor, targets: torch.Tensor, k: Sequence[int] = (1, 5)) -> list[float]:
    """Fraction of rows whose target is *not* among the ``k`` largest logits.

    ``1 - topk_accuracy(logits, targets, k)``, for each ``k``; ``logits`` and
    ``targets`` may be on different devices.

    Examples
    --------
    >>> logits = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
    >>> topk_error(logits, torch.tensor([2, 2]), k=(1, 2))
    [1.0, 0.0]

    Introduced in lesson 04.
    """
    return [1.0 - a for a in topk_accuracy(logits, targets, k)]


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Count of (true class, predicted class) pairs.

    Parameters
    ----------
    predictions : torch.Tensor
        ``(N,)`` predicted class indices, or ``(N, C)`` logits/probabilities
        (their argmax is used).
    targets : torch.Tensor
        ``(N,)`` true class indices, on any device (predictions from a model
        on the GPU, targets from a CPU loader).
    num_classes : int

    Returns
    -------
    torch.Tensor
        ``(num_classes, num_classes)`` int64 on the CPU; row = true class,
        column = predicted class, so the diagonal holds the correct predictions.

    Examples
    --------
    >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2).tolist()
    [[1, 1], [0, 1]]

    Introduced in lesson 04.
    """
    check_int("num_classes", num_classes, minimum=1)
    check_tensor("predictions", predictions, ndim=(1, 2), layout="(N,) or (N, num_classes)")
    check_tensor("targets", targets, ndim=1, layout="(N,)")
    if predictions.ndim == 2:
        if predictions.shape[1] != num_classes:
            raise ValueError(f"logits must have {num_classes} columns, got shape {tuple(predictions.shape)}")
        predictions = predictions.argmax(dim=1)
    if predictions.ndim != 1 or targets.ndim != 1 or predictions.shape != targets.shape:
        raise ValueError(
            f"predictions must be (N,) or (N, C) and targets (N,) with the same N, "
            f"got {tuple(predictions.shape)} and {tuple(targets.shape)}"
        )
    for name, t in (("predictions", predictions), ("targets", targets)):
        if t.dtype.is_floating_point:
            raise TypeError(f"{name} must be integer class indices, got {t.dtype}")
        if t.numel() and (t.min() < 0 or t.max() >= num_classes):
            raise ValueError(f"{name} must lie in [0, {num_classes - 1}], got values from {int(t.min())} to {int(t.max())}")
    flat = targets.long().cpu() * num_classes + predictions.long().cpu()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """Recall of each class from a confusion matrix: diagonal / row sum (NaN for an empty row).

    Examples
    --------
    >>> per_class_accuracy(torch.tensor([[1, 1], [0, 1]])).tolist()
    [0.5, 1.0]

    Introduced in lesson 04.
    """
    check_tensor("cm", cm, ndim=2, layout="(C, C)")
    if cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (C, C) tensor, got shape {tuple(cm.shape)}")
    rows = cm.sum(dim=1).double()
    return torch.where(rows > 0, cm.diagonal().double() / rows.clamp(min=1), torch.full_like(rows, float("nan")))


# --------------------------------------------------------------------------
# Comparing two classifiers: a difference with its interval and its test
# --------------------------------------------------------------------------

_VERDICTS = ("A is better", "B is better", "no detectable difference")
_MINUS = "\u2212"  # a typographic minus for prose: "−2.1", as the book typesets it


@dataclass(frozen=True)
class Comparison:
    """Two accuracies, their difference ``a - b``, its confidence interval and a test.

    Made by :func:`compare_classifiers` (paired) and :func:`compare_accuracies`
    (unpaired); not meant to be built by hand.

    The verdict follows the test: a winner is named only when ``p_value < alpha``.
    The interval is a ``1 - alpha`` interval for the difference. The two come
    from different procedures (an exact test, an asymptotic interval), so near
    the threshold they can disagree; ``interval_agrees`` says whether they do.
    With McNemar's exact test and Tango's interval the only possible
    disagreement is the cautious one (the interval excludes 0 while the exact
    test does not reject, e.g. 6 against 16 discordant images in 161: p = 0.052);
    with Fisher's test and Newcombe's interval the other way round also occurs,
    very rarely and only at the margin (3/50 against 18/100: p = 0.049, interval
    up to +0.00003). :meth:`describe` says so whenever it happens.

    Introduced in lesson 02.

    Attributes
    ----------
    a_accuracy, b_accuracy : float
        The two accuracies, as fractions.
    difference : float
        ``a_accuracy - b_accuracy``.
    ci_low, ci_high : float
        The ``1 - alpha`` confidence interval for the difference.
    p_value : float
        The two-sided p-value of the test of "no difference".
    alpha : float
        The significance level (and ``1 - alpha`` the interval's level).
    test, interval : str
        The names of the test and of the interval.
    n_a, n_b : int
        The numbers of images behind each accuracy.
    paired : bool
        Whether A and B were evaluated on the same images.

    Examples
    --------
    >>> c = compare_accuracies(180, 200, 160, 200)
    >>> round(c.difference, 3), c.significant, c.verdict
    (0.1, True, 'A is better')
    >>> c.describe("wide", "narrow")
    '10.0 points (95 % CI 3.0 to 17.0), p = 0.007: wide is better'
    """

    a_accuracy: float
    b_accuracy: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    test: str
    interval: str
    n_a: int
    n_b: int
    paired: bool

    @property
    def significant(self) -> bool:
        """``p_value < alpha``: the test detects a difference."""
        return self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        """``"A is better"``, ``"B is better"`` or ``"no detectable difference"`` (from the test)."""
        if not self.significant or self.difference == 0:
            return _VERDICTS[2]
        return _VERDICTS[0] if self.difference > 0 else _VERDICTS[1]

    @property
    def interval_agrees(self) -> bool:
        """Whether the interval excludes 0 exactly when the test detects a difference."""
        excludes_zero = self.ci_low > 0 or self.ci_high < 0
        return excludes_zero == self.significant

    def describe(self, name_a: str = "A", name_b: str = "B", digits: int = 1) -> str:
        """A short sentence for the prose: the difference in points, its interval, p and the verdict.

        Parameters
        ----------
        name_a, name_b : str, default "A", "B"
            What to call the two classifiers in the verdict.
        digits : int, default 1
            Decimals of the percentage points.

        Returns
        -------
        str
            e.g. ``"4.2 points (95 % CI 1.3 to 7.1), p = 0.004: A is better"``,
            or ``"... : no detectable difference"``. When the interval and the
            test disagree (see :class:`Comparison`), a note in brackets says so.

        Examples
        --------
        >>> compare_accuracies(81, 100, 84, 100).describe("SGD", "Adam")
        '\u22123.0 points (95 % CI \u221213.6 to 7.6), p = 0.71: no detectable difference'

        Introduced in lesson 02.
        """
        check_type("name_a", name_a, str)
        check_type("name_b", name_b, str)
        digits = check_int("digits", digits, minimum=0, maximum=6)

        def points(x: float) -> str:
            text = f"{100 * x:.{digits}f}"
            if float(text) == 0:  # no "-0.0"
                text = text.lstrip("-")
            return text.replace("-", _MINUS)

        level = f"{100 * (1 - self.alpha):g}"
        verdict = {
            _VERDICTS[0]: f"{name_a} is better",
            _VERDICTS[1]: f"{name_b} is better",
            _VERDICTS[2]: _VERDICTS[2],
        }[self.verdict]
        text = (
            f"{points(self.difference)} points ({level} % CI {points(self.ci_low)} to {points(self.ci_high)}), "
            f"{_format_p(self.p_value, self.alpha)}: {verdict}"
        )
        if not self.interval_agrees:
            if self.significant:
                text += " (borderline: the interval still reaches 0)"
            else:
                text += " (borderline: the interval excludes 0, the more cautious exact test does not)"
        return text


def _format_p(p: float, alpha: float) -> str:
    """``p = 0.43``, ``p = 0.004``, ``p < 0.001``; never rounded onto or across ``alpha``.

    Two decimals from 0.01 up, three below; more where rounding would land on
    ``alpha`` or on its other side (0.0496 is "0.0496", not "0.05").
    """
    if p < 0.001:
        return "p < 0.001" if alpha > 0.001 else f"p = {p:.2g}"
    decimals = 2 if p >= 0.01 else 3
    text = f"{p:.{decimals}f}"
    while decimals < 8 and p != alpha and (float(text) == alpha or (float(text) < alpha) != (p < alpha)):
        decimals += 1
        text = f"{p:.{decimals}f}"
    return "p = 1" if float(text) == 1 else f"p = {text}"


def _as_correctness(name: str, value: object) -> np.ndarray:
    """A 1-D boolean tensor or array (on any device) as a numpy bool array."""
    if isinstance(value, torch.Tensor):
        if value.dtype != torch.bool:
            raise TypeError(f"{name} must be a boolean tensor or array (e.g. predictions == targets), got dtype {value.dtype}")
        check_tensor(name, value, ndim=1, layout="(N,)")
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype != np.bool_:
            raise TypeError(f"{name} must be a boolean tensor or array (e.g. predictions == targets), got dtype {value.dtype}")
        if value.ndim != 1:
            raise ValueError(f"{name} must have shape (N,), got shape {value.shape}")
        return value
    raise TypeError(f"{name} must be a 1-D boolean torch.Tensor or numpy.ndarray, got {type(value).__name__}")


def _check_alpha(alpha: object) -> float:
    alpha = check_number("alpha", alpha, minimum=0, strict_minimum=True)
    if alpha >= 1:
        raise ValueError(f"alpha must be a significance level in (0, 1), got {alpha}")
    return float(alpha)


def _mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of ``b`` successes in ``b + c`` at 1/2.

    Under the null the discordant pairs split as fair coin flips, a symmetric
    distribution, so the two-sided p-value is twice the smaller tail (capped at 1).
    """
    from scipy import stats

    n = b + c
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), n, 0.5)))


def _tango_interval(b: int, c: int, n: int, z: float) -> tuple[float, float]:
    """Tango's (1998) score interval for the paired difference ``(b - c) / n``.

    The interval is the set of differences ``d`` that the score test of
    ``H0: p_b - p_c = d`` does not reject; the nuisance parameter (the
    probability of a ``c`` pair) is its maximum-likelihood estimate under ``H0``,
    in closed form (the root of a quadratic). At ``d = 0`` the statistic is
    McNemar's ``(b - c) / sqrt(b + c)``, so the interval excludes 0 exactly
    when McNemar's asymptotic test rejects. Fagerland, Lydersen & Laake (2014)
    recommend it among the intervals for paired proportions.
    """
    from scipy import optimize

    estimate = (b - c) / n

    def score(d: float) -> float:
        qa = 2 * n
        qb = -b - c + (2 * n - b + c) * d
        qc = -c * d * (1 - d)
        p_c = (math.sqrt(max(qb * qb - 4 * qa * qc, 0.0)) - qb) / (2 * qa)
        variance = n * (2 * p_c + d * (1 - d))
        numerator = b - c - n * d
        if variance <= 0:
            return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
        return numerator / math.sqrt(variance)

    edge = 1e-12
    # The statistic falls as d grows: it is +z at the lower limit and -z at the upper one.
    if estimate <= -1 or score(-1 + edge) < z:
        low = -1.0
    else:
        low = optimize.brentq(lambda d: score(d) - z, -1 + edge, estimate, xtol=1e-13)
    if estimate >= 1 or score(1 - edge) > -z:
        high = 1.0
    else:
        high = optimize.brentq(lambda d: score(d) + z, estimate, 1 - edge, xtol=1e-13)
    return float(low), float(high)


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval for one proportion ``k / n``."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _newcombe_interval(k_a: int, n_a: int, k_b: int, n_b: int, z: float) -> tuple[float, float]:
    """Newcombe's (1998) hybrid score interval ("method 10") for ``k_a/n_a - k_b/n_b``.

    Wilson intervals for each proportion, combined by adding the distances
    from each estimate to its limits in quadrature ("square and add").
    """
    p_a, p_b = k_a / n_a, k_b / n_b
    low_a, high_a = _wilson(k_a, n_a, z)
    low_b, high_b = _wilson(k_b, n_b, z)
    d = p_a - p_b
    low = d - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = d + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return max(-1.0, low), min(1.0, high)


def compare_classifiers(correct_a: torch.Tensor | np.ndarray, correct_b: torch.Tensor | np.ndarray, *, alpha: float = 0.05) -> Comparison:
    """Compare two classifiers evaluated on the same test images (a paired comparison).

    Only the images on which they disagree carry information: ``b`` images
    that A gets right and B wrong, ``c`` the other way round. If the two were
    equally accurate, each such image would be a fair coin flip, so the test is
    the two-sided exact binomial test of ``b`` out of ``b + c`` at 1/2
    (McNemar's exact test). The interval is Tango's score interval for the
    difference in accuracy: it is built from the same score statistic as
    McNemar's test, stays within [-1, 1], and keeps close to its nominal
    coverage even with few discordant images, where the simple Wald interval
    does not (Fagerland, Lydersen & Laake 2014). Pairing matters: two networks
    trained on the same data make many of the same mistakes, and a paired test
    sees a difference that an unpaired one, blind to that, would call noise.

    Introduced in lesson 02.

    Parameters
    ----------
    correct_a, correct_b : torch.Tensor or numpy.ndarray
        ``(N,)`` booleans, per test image, ``True`` where the classifier is
        right (e.g. ``predictions == targets``); same images, same order. Tensors
        may be on any device.
    alpha : float, default 0.05
        Significance level; the interval has level ``1 - alpha``.

    Returns
    -------
    Comparison
        With ``test="McNemar exact"``, ``interval="Tango score"`` and ``paired=True``.

    Examples
    --------
    >>> a = torch.tensor([True] * 80 + [True] * 15 + [False] * 3 + [False] * 2)
    >>> b = torch.tensor([True] * 80 + [False] * 15 + [True] * 3 + [False] * 2)
    >>> c = compare_classifiers(a, b)          # 15 images only A gets right, 3 only B
    >>> round(c.p_value, 4), c.verdict
    (0.0075, 'A is better')
    >>> c.describe()
    '12.0 points (95 % CI 4.1 to 20.9), p = 0.008: A is better'
    >>> compare_classifiers(b, a).verdict      # swapping the two mirrors the verdict
    'B is better'
    """
    a = _as_correctness("correct_a", correct_a)
    b_ = _as_correctness("correct_b", correct_b)
    if a.shape != b_.shape:
        raise ValueError(
            f"correct_a and correct_b must hold one entry per test image, the same images: "
            f"got lengths {a.shape[0]} and {b_.shape[0]}"
        )
    n = int(a.shape[0])
    if n == 0:
        raise ValueError("correct_a and correct_b must not be empty, got 0 images")
    alpha = _check_alpha(alpha)
    from scipy import stats

    only_a = int(np.count_nonzero(a & ~b_))
    only_b = int(np.count_nonzero(~a & b_))
    acc_a, acc_b = float(a.mean()), float(b_.mean())
    low, high = _tango_interval(only_a, only_b, n, float(stats.norm.isf(alpha / 2)))
    return Comparison(
        a_accuracy=acc_a,
        b_accuracy=acc_b,
        difference=(only_a - only_b) / n,
        ci_low=low,
        ci_high=high,
        p_value=_mcnemar_exact_p(only_a, only_b),
        alpha=alpha,
        test="McNemar exact",
        interval="Tango score",
        n_a=n,
        n_b=n,
        paired=True,
    )


def _as_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point() and value.dtype != torch.bool:
        value = int(value.item())  # e.g. (predictions == targets).sum()
    return check_int(name, value, minimum=minimum)


def compare_accuracies(correct_a: int, n_a: int, correct_b: int, n_b: int, *, alpha: float = 0.05) -> Comparison:
    """Compare two accuracies measured on different images (an unpaired comparison).

    ``correct_a`` of ``n_a`` images right against ``correct_b`` of ``n_b``. The
    test is Fisher's exact test of the 2×2 table (two-sided): exact at any
    size, and on the cautious side. The interval is Newcombe's hybrid score
    interval ("method 10", Newcombe 1998): a Wilson interval for each accuracy,
    combined. It stays within [-1, 1], is never empty or zero-wide at 0 % or
    100 %, and keeps close to its nominal coverage at the small sizes where the
    Wald interval (estimate ± 1.96 standard errors) does not.

    When both accuracies were measured on the same images, use
    :func:`compare_classifiers` instead: it is much more sensitive.

    Introduced in lesson 02.

    Parameters
    ----------
    correct_a, n_a : int
        Images classifier A got right, out of ``n_a`` (a 0-d integer tensor works too).
    correct_b, n_b : int
        The same for classifier B.
    alpha : float, default 0.05
        Significance level; the interval has level ``1 - alpha``.

    Returns
    -------
    Comparison
        With ``test="Fisher exact"``, ``interval="Newcombe hybrid score"`` and ``paired=False``.

    Examples
    --------
    >>> c = compare_accuracies(56, 70, 48, 80)     # Newcombe's (1998) first worked example
    >>> round(c.ci_low, 4), round(c.ci_high, 4)
    (0.0524, 0.3339)
    >>> compare_accuracies(170, 200, 172, 200).verdict
    'no detectable difference'
    """
    correct_a = _as_count("correct_a", correct_a, 0)
    n_a = _as_count("n_a", n_a, 1)
    correct_b = _as_count("correct_b", correct_b, 0)
    n_b = _as_count("n_b", n_b, 1)
    for k, n, k_name, n_name in ((correct_a, n_a, "correct_a", "n_a"), (correct_b, n_b, "correct_b", "n_b")):
        if k > n:
            raise ValueError(f"{k_name} must be at most {n_name} (images right out of images seen), got {k} > {n}")
    alpha = _check_alpha(alpha)
    from scipy import stats

    table = [[correct_a, n_a - correct_a], [correct_b, n_b - correct_b]]
    p_value = float(stats.fisher_exact(table, alternative="two-sided").pvalue)
    low, high = _newcombe_interval(correct_a, n_a, correct_b, n_b, float(stats.norm.isf(alpha / 2)))
    return Comparison(
        a_accuracy=correct_a / n_a,
        b_accuracy=correct_b / n_b,
        difference=correct_a / n_a - correct_b / n_b,
        ci_low=low,
        ci_high=high,
        p_value=min(1.0, p_value),
        alpha=alpha,
        test="Fisher exact",
        interval="Newcombe hybrid score",
        n_a=n_a,
        n_b=n_b,
        paired=False,
    )
