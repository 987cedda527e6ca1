"""Confusion matrix and top-k error against scikit-learn and hand-worked examples; comparisons of two
classifiers against scipy and published worked examples."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import recall_score, top_k_accuracy_score
from scipy import optimize, stats

from lessonkit.metrics import Comparison, compare_accuracies, compare_classifiers, confusion_matrix, per_class_accuracy, topk_error


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 500)
    p = np.where(rng.random(500) < 0.6, y, rng.integers(0, 7, 500))
    ours = confusion_matrix(torch.from_numpy(p), torch.from_numpy(y), 7)
    np.testing.assert_array_equal(ours.numpy(), sk_confusion_matrix(y, p, labels=range(7)))
    np.testing.assert_allclose(per_class_accuracy(ours).numpy(), recall_score(y, p, average=None, labels=range(7)))


def test_confusion_matrix_from_logits_uses_argmax():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.1, 3.0], [0.0, 5.0, 1.0]])
    cm = confusion_matrix(logits, torch.tensor([0, 1, 1]), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
    assert torch.isnan(per_class_accuracy(cm)[2])


def test_topk_error_matches_sklearn():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(300, 10))
    y = rng.integers(0, 10, 300)
    errs = topk_error(torch.from_numpy(logits), torch.from_numpy(y), k=(1, 5))
    for e, k in zip(errs, (1, 5)):
        assert e == pytest.approx(1 - top_k_accuracy_score(y, logits, k=k, labels=range(10)))


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="lie in"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="same N"):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]), 3)
    with pytest.raises(TypeError, match="integer"):
        confusion_matrix(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="columns"):
        confusion_matrix(torch.zeros(2, 4), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="square"):
        per_class_accuracy(torch.zeros(2, 3))


def test_topk_error_is_one_minus_topk_accuracy_and_shares_its_checks():
    import lessonkit as lk

    g = torch.Generator().manual_seed(1)
    logits, targets = torch.randn(50, 6, generator=g), torch.randint(0, 6, (50,), generator=g)
    for k in (1, 3, 6):
        assert topk_error(logits, targets, (k,))[0] == 1.0 - lk.topk_accuracy(logits, targets, (k,))[0]
        # an independent oracle: scikit-learn
        assert topk_error(logits, targets, (k,))[0] == pytest.approx(1 - top_k_accuracy_score(targets, logits, k=k, labels=range(6)))
    with pytest.raises(ValueError, match="k must be an int <= 6, got 7"):
        topk_error(logits, targets, (7,))
    with pytest.raises(TypeError, match="k must be an int, got float"):
        topk_error(logits, targets, (1.0,))
    with pytest.raises(TypeError, match="k must be a sequence"):
        topk_error(logits, targets, 5)


# --------------------------------------------------------------------------
# compare_classifiers (paired) and compare_accuracies (unpaired)
# --------------------------------------------------------------------------

Z95 = stats.norm.isf(0.025)


def paired(both: int, only_a: int, only_b: int, neither: int, kind: str = "torch"):
    """Per-image correctness of two classifiers with the given 2×2 table of agreements."""
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    if kind == "torch":
        return torch.tensor(a), torch.tensor(b)
    return np.array(a), np.array(b)


def test_mcnemar_exact_is_scipys_binomial_test_on_the_discordant_images():
    rng = np.random.default_rng(0)
    for _ in range(60):
        both, only_a, only_b, neither = (int(v) for v in rng.integers(0, 40, 4))
        if only_a + only_b == 0:
            continue
        c = compare_classifiers(*paired(both, only_a, only_b, neither))
        oracle = stats.binomtest(only_a, only_a + only_b, 0.5, alternative="two-sided").pvalue
        assert c.p_value == pytest.approx(oracle, rel=1e-9, abs=1e-15)
        assert c.difference == pytest.approx((only_a - only_b) / (both + only_a + only_b + neither))
        assert c.a_accuracy == pytest.approx((both + only_a) / (both + only_a + only_b + neither))
    # by hand: 5 discordant images, all for A: p = 2 * (1/2)**5
    assert compare_classifiers(*paired(10, 5, 0, 3)).p_value == pytest.approx(2 / 32)
    # no discordant image: nothing to test
    assert compare_classifiers(*paired(10, 0, 0, 3)).p_value == 1.0


def test_paired_worked_example_of_fagerland_lydersen_laake():
    """Cavo et al. (2012): the 2×2 table [[59, 6], [16, 80]] worked in Fagerland, Lydersen & Laake,
    *Statistical Analysis of Contingency Tables* (CRC, 2017), chapter 8, and in their R package
    contingencytables (tests/testthat/test-ch8.R): McNemar exact conditional P = 0.052479,
    Tango asymptotic score interval -0.1240 to -0.0054 around -0.0621.

    It is also the documented case where the exact test and the interval disagree: the interval
    excludes 0, the (more cautious) exact test does not reject, and the verdict follows the test."""
    c = compare_classifiers(*paired(59, 6, 16, 80))
    assert round(c.p_value, 6) == 0.052479
    assert round(c.difference, 4) == -0.0621
    assert (round(c.ci_low, 4), round(c.ci_high, 4)) == (-0.1240, -0.0054)
    assert c.verdict == "no detectable difference" and not c.significant
    assert not c.interval_agrees
    assert c.describe() == (
        "\u22126.2 points (95 % CI \u221212.4 to \u22120.5), p = 0.052: no detectable difference "
        "(borderline: the interval excludes 0, the more cautious exact test does not)"
    )


def _tango_statistic_by_numerical_profile(b, c, n, d):
    """Tango's score statistic with the nuisance parameter maximised numerically (no closed form)."""
    lo, hi = max(0.0, -d), (1 - d) / 2

    def nll(p21):
        p12 = p21 + d
        rest = 1 - p12 - p21
        terms = [(b, p12), (c, p21), (n - b - c, rest)]
        return -sum(k * math.log(p) for k, p in terms if k)

    p21 = optimize.minimize_scalar(nll, bounds=(lo + 1e-12, hi - 1e-12), method="bounded", options={"xatol": 1e-12}).x
    return (b - c - n * d) / math.sqrt(n * (2 * p21 + d * (1 - d)))


@pytest.mark.parametrize("table", [(59, 6, 16, 80), (40, 12, 3, 20), (100, 0, 4, 10), (5, 9, 1, 0)])
def test_tango_limits_are_where_the_score_test_just_rejects(table):
    """The limits solve |T(d)| = z, with T's nuisance parameter found by numerical maximisation
    of the constrained likelihood (an oracle independent of the closed-form root)."""
    both, only_a, only_b, neither = table
    n = sum(table)
    c = compare_classifiers(*paired(*table))
    assert c.ci_low < c.difference < c.ci_high
    assert _tango_statistic_by_numerical_profile(only_a, only_b, n, c.ci_low) == pytest.approx(Z95, abs=1e-4)
    assert _tango_statistic_by_numerical_profile(only_a, only_b, n, c.ci_high) == pytest.approx(-Z95, abs=1e-4)


def test_tango_interval_approaches_the_wald_interval_for_many_images():
    """With many discordant images every reasonable interval is the Wald one:
    (b - c)/n ± z sqrt((b + c) - (b - c)²/n) / n."""
    both, only_a, only_b, neither = 60_000, 3_000, 2_600, 34_400
    n = both + only_a + only_b + neither
    c = compare_classifiers(*paired(both, only_a, only_b, neither))
    half = Z95 * math.sqrt((only_a + only_b) - (only_a - only_b) ** 2 / n) / n
    assert c.ci_low == pytest.approx(c.difference - half, abs=2e-5)
    assert c.ci_high == pytest.approx(c.difference + half, abs=2e-5)


def test_paired_b_better_and_no_difference_and_swaps():
    better_b = compare_classifiers(*paired(70, 2, 14, 14))
    assert better_b.verdict == "B is better" and better_b.significant and better_b.difference < 0
    assert better_b.ci_high < 0 and better_b.interval_agrees
    same = compare_classifiers(*paired(70, 8, 7, 15))
    assert same.verdict == "no detectable difference" and same.ci_low < 0 < same.ci_high
    rng = np.random.default_rng(1)
    for _ in range(40):
        table = [int(v) for v in rng.integers(0, 30, 4)]
        if sum(table) == 0:
            continue
        ab = compare_classifiers(*paired(*table))
        ba = compare_classifiers(*paired(table[0], table[2], table[1], table[3]))
        assert ba.difference == pytest.approx(-ab.difference)
        assert (ba.ci_low, ba.ci_high) == pytest.approx((-ab.ci_high, -ab.ci_low), abs=1e-9)
        assert ba.p_value == pytest.approx(ab.p_value)
        mirror = {"A is better": "B is better", "B is better": "A is better"}
        assert ba.verdict == mirror.get(ab.verdict, ab.verdict)


def test_paired_exact_test_never_names_a_winner_the_interval_does_not_support():
    """McNemar's exact test is more cautious than the score test Tango's interval inverts, so a
    significant exact test always comes with an interval that excludes 0 (the converse can fail,
    see the worked example above)."""
    for n_discordant in range(1, 2000):  # the arithmetic behind it, for up to 2000 discordant images
        only_a = np.arange(n_discordant + 1)
        p_exact = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(only_a, n_discordant - only_a), n_discordant, 0.5))
        score = np.abs(2 * only_a - n_discordant) / math.sqrt(n_discordant)
        assert np.all(score[p_exact < 0.05] >= Z95), n_discordant
    for n_discordant in range(1, 41):  # and the function itself
        for only_a in range(n_discordant + 1):
            c = compare_classifiers(*paired(20, only_a, n_discordant - only_a, 20))
            assert c.ci_low <= c.difference <= c.ci_high
            if c.significant:
                assert c.interval_agrees, (only_a, n_discordant - only_a)


def test_compare_classifiers_accepts_numpy_and_device_tensors():
    a, b = paired(50, 12, 3, 10)
    expected = compare_classifiers(a, b)
    assert compare_classifiers(*paired(50, 12, 3, 10, kind="numpy")) == expected
    from test_devices import META, StandIn  # the shadow device: a stand-in for a GPU (see test_devices)

    with StandIn():
        got = compare_classifiers(a.to(META), b)
    assert got == expected


def test_newcombe_interval_matches_newcombes_published_table():
    """Newcombe, "Interval estimation for the difference between independent proportions: comparison
    of eleven methods", Statistics in Medicine 17 (1998) 873-890, Table II, method 10."""
    table_ii = [
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((0, 10, 0, 10), (-0.2775, 0.2775)),
        ((10, 10, 0, 20), (0.6791, 1.0000)),
        ((10, 10, 0, 10), (0.6075, 1.0000)),
    ]
    for (k_a, n_a, k_b, n_b), (low, high) in table_ii:
        c = compare_accuracies(k_a, n_a, k_b, n_b)
        assert (round(c.ci_low, 4), round(c.ci_high, 4)) == (low, high), (k_a, n_a, k_b, n_b)
        assert c.difference == pytest.approx(k_a / n_a - k_b / n_b)


def _fisher_by_hand(k_a, n_a, k_b, n_b):
    """Two-sided Fisher: the total hypergeometric probability of tables no more likely than the observed."""
    total, successes = n_a + n_b, k_a + k_b
    probability = {x: math.comb(n_a, x) * math.comb(n_b, successes - x) / math.comb(total, successes)
                   for x in range(max(0, successes - n_b), min(n_a, successes) + 1)}
    observed = probability[k_a]
    return sum(p for p in probability.values() if p <= observed * (1 + 1e-7))


def test_fisher_p_value_against_the_hypergeometric_sum_and_the_tea_tasting_lady():
    rng = np.random.default_rng(2)
    for _ in range(40):
        n_a, n_b = (int(v) for v in rng.integers(1, 60, 2))
        k_a, k_b = int(rng.integers(0, n_a + 1)), int(rng.integers(0, n_b + 1))
        assert compare_accuracies(k_a, n_a, k_b, n_b).p_value == pytest.approx(min(1.0, _fisher_by_hand(k_a, n_a, k_b, n_b)), rel=1e-9)
    # Fisher's lady tasting tea, 3 of 4 cups right each way: p = (1 + 16 + 16 + 1) / 70
    assert compare_accuracies(3, 4, 1, 4).p_value == pytest.approx(34 / 70)


def test_unpaired_verdicts_and_swaps():
    assert compare_accuracies(120, 200, 150, 200).verdict == "B is better"
    assert compare_accuracies(170, 200, 172, 200).verdict == "no detectable difference"
    assert compare_accuracies(950, 1000, 900, 1000).verdict == "A is better"
    rng = np.random.default_rng(3)
    for _ in range(40):
        n_a, n_b = (int(v) for v in rng.integers(1, 300, 2))
        k_a, k_b = int(rng.integers(0, n_a + 1)), int(rng.integers(0, n_b + 1))
        ab, ba = compare_accuracies(k_a, n_a, k_b, n_b), compare_accuracies(k_b, n_b, k_a, n_a)
        assert ba.difference == pytest.approx(-ab.difference)
        assert (ba.ci_low, ba.ci_high) == pytest.approx((-ab.ci_high, -ab.ci_low))
        assert ba.p_value == pytest.approx(ab.p_value)
        assert ab.ci_low <= ab.difference <= ab.ci_high and -1 <= ab.ci_low and ab.ci_high <= 1
        if ab.verdict == "A is better":
            assert ba.verdict == "B is better"
        elif ab.verdict == "no detectable difference":
            assert ba.verdict == "no detectable difference"


def test_the_rare_unpaired_disagreement_is_said_in_words():
    """3/50 against 18/100: Fisher's p = 0.049 while Newcombe's interval just reaches 0."""
    c = compare_accuracies(3, 50, 18, 100)
    assert c.p_value == pytest.approx(_fisher_by_hand(3, 50, 18, 100), rel=1e-9) and c.p_value < 0.05
    assert c.ci_low < 0 < c.ci_high and c.verdict == "B is better" and not c.interval_agrees
    assert c.describe().endswith("B is better (borderline: the interval still reaches 0)")


def test_describe_formats_points_interval_p_and_verdict():
    c = compare_accuracies(180, 200, 160, 200)  # the numbers are checked against oracles above; here, their wording
    low, high, p = 100 * c.ci_low, 100 * c.ci_high, c.p_value
    assert 0.001 < p < 0.01 and low > 0
    assert c.describe() == f"10.0 points (95 % CI {low:.1f} to {high:.1f}), p = {p:.3f}: A is better"
    assert c.describe("wide", "narrow", digits=2) == f"10.00 points (95 % CI {low:.2f} to {high:.2f}), p = {p:.3f}: wide is better"
    assert "(90 % CI" in compare_accuracies(180, 200, 160, 200, alpha=0.1).describe()
    worse = compare_accuracies(160, 200, 180, 200).describe("wide", "narrow")
    assert worse == f"\u221210.0 points (95 % CI \u2212{high:.1f} to \u2212{low:.1f}), p = {p:.3f}: narrow is better"
    assert compare_accuracies(81, 100, 84, 100).describe().endswith(": no detectable difference")
    assert compare_accuracies(100, 100, 100, 100).describe().startswith("0.0 points")
    assert compare_accuracies(0, 10, 10, 10).describe().split(", ")[1].startswith("p < 0.001")


def test_comparison_is_frozen():
    c = compare_accuracies(1, 2, 1, 2)
    assert isinstance(c, Comparison)
    with pytest.raises(AttributeError):
        c.p_value = 0.0


def test_comparisons_reject_bad_input():
    a, b = paired(5, 1, 1, 3)
    with pytest.raises(TypeError, match=r"correct_a must be a boolean tensor or array .* got dtype torch.int64"):
        compare_classifiers(a.long(), b)
    with pytest.raises(TypeError, match=r"correct_b must be a boolean tensor or array .* got dtype float32"):
        compare_classifiers(a, b.numpy().astype(np.float32))
    with pytest.raises(TypeError, match="correct_a must be a 1-D boolean torch.Tensor or numpy.ndarray, got list"):
        compare_classifiers([True, False], b)
    with pytest.raises(ValueError, match=r"correct_a must have shape \(N,\), got shape \(2, 5\)"):
        compare_classifiers(a.view(2, 5), b)
    with pytest.raises(ValueError, match="the same images: got lengths 10 and 9"):
        compare_classifiers(a, b[:9])
    with pytest.raises(ValueError, match="must not be empty"):
        compare_classifiers(a[:0], b[:0])
    with pytest.raises(ValueError, match=r"alpha must be a significance level in \(0, 1\), got 1"):
        compare_classifiers(a, b, alpha=1)
    with pytest.raises(ValueError, match="alpha must be > 0, got 0"):
        compare_accuracies(1, 2, 1, 2, alpha=0)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        compare_accuracies(1, 2, 1, 2, alpha="0.05")
    with pytest.raises(ValueError, match=r"correct_a must be at most n_a .* got 11 > 10"):
        compare_accuracies(11, 10, 1, 2)
    with pytest.raises(ValueError, match="n_b must be an int >= 1, got 0"):
        compare_accuracies(1, 2, 0, 0)
    with pytest.raises(TypeError, match="correct_b must be an int, got float"):
        compare_accuracies(1, 2, 0.5, 2)
    with pytest.raises(TypeError, match="name_a must be a str, got int"):
        compare_accuracies(1, 2, 1, 2).describe(1)
    with pytest.raises(ValueError, match="digits must be an int >= 0, got -1"):
        compare_accuracies(1, 2, 1, 2).describe(digits=-1)
    # counts straight from a tensor sum are accepted
    assert compare_accuracies(a.sum(), 10, b.sum(), 10) == compare_accuracies(6, 10, 6, 10)
