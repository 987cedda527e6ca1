"""The self-checks of the homework (``book/homework.md``), registered by :mod:`lessonkit.selfcheck`.

One judge per milestone of the "find similar images" homework of lesson 13
(``hw-13-...``), and the template of its write-up. They follow the rules of
:func:`lessonkit.check`: each judge runs the student's function on small inputs
of its own, compares the result with lessonkit's, and raises ``_Malformed``
(the answer has the wrong form) or ``_Wrong`` (a hint, never the expected
answer). They live here, not in ``selfcheck``, so that neither module grows
past what one reader can hold; ``selfcheck`` imports them at its end, after
the readers of answers they use.

This module is private: nothing here is part of the public surface.
"""

from __future__ import annotations

import math
import os
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .selfcheck import _as_number, _call, _describe, _Exercise, _Malformed, _Wrong

__all__: list[str] = []  # private: selfcheck registers HOMEWORK


def _hw_backbone() -> nn.Module:
    """A small backbone in training mode with batch norm and dropout: eval mode matters."""
    torch.manual_seed(13)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with torch.no_grad():
        for _ in range(3):  # running statistics that differ from a batch's own
            backbone(torch.rand(4, 3, 12, 12) * 2 + 1)
    return backbone.train()


def _as_matrix(given: Any, shape: tuple[int, ...], what: str) -> torch.Tensor:
    try:
        matrix = torch.as_tensor(given.detach().cpu() if isinstance(given, torch.Tensor) else np.asarray(given)).double()
    except (TypeError, ValueError, RuntimeError):
        raise _Malformed(f"expected {what} of shape {shape}, got {_describe(given)}") from None
    if tuple(matrix.shape) != shape:
        raise _Malformed(f"expected {what} of shape {shape}, got {_describe(matrix)}")
    return matrix


def _judge_hw13_features(answer: Any) -> bool:
    from .pretrained import extract_features

    g = torch.Generator().manual_seed(13)
    for n, h, w in ((5, 16, 16), (2, 24, 20)):
        backbone = _hw_backbone()
        images = torch.rand(n, 3, h, w, generator=g)
        expected, _ = extract_features(backbone, images)
        backbone.train()
        given = _as_matrix(_call(answer, backbone, images), tuple(expected.shape), "feature vectors")
        if not torch.isfinite(given).all():
            raise _Wrong("your vectors contain NaN or infinity")
        if not torch.allclose(given.norm(dim=1), torch.ones(n, dtype=torch.float64), atol=1e-4):
            raise _Wrong("your vectors do not have length 1")
        if not torch.allclose(given, expected.double(), atol=1e-4):
            raise _Wrong("your vectors point in other directions than the backbone's features")
    return True


def _judge_hw13_index(answer: Any) -> bool:
    from .retrieval import SearchIndex

    g = torch.Generator().manual_seed(14)
    for n, q, d, k in ((40, 7, 6, 5), (12, 3, 4, 1), (9, 2, 3, 9)):
        references = torch.randn(n, d, generator=g) * torch.rand(n, 1, generator=g) * 4
        queries = torch.randn(q, d, generator=g) * 3
        scores, indices = SearchIndex(references).search(queries, k)
        given = _call(answer, references.clone(), queries.clone(), k)
        if not (isinstance(given, (tuple, list)) and len(given) == 2):
            raise _Malformed(f"expected your function to return (scores, indices), got {_describe(given)}")
        given_scores = _as_matrix(given[0], (q, k), "scores")
        given_indices = _as_matrix(given[1], (q, k), "indices")
        if not torch.equal(given_indices.long().double(), given_indices):
            raise _Malformed("expected whole-number indices, got fractions")
        if not torch.equal(given_indices.long(), indices):
            raise _Wrong(f"the matches (or their order) are wrong for {q} queries, {n} references and k = {k}")
        if not torch.allclose(given_scores, scores.double(), atol=1e-4):
            raise _Wrong("the scores are not the cosine similarities of the matches")
    return True


def _hw_reference(folder) -> Any:
    """Three colours, two noisy images each, in sub-folders named after the colour."""
    from PIL import Image

    from .app import scan_reference_folder

    rng = np.random.default_rng(13)
    for name, colour in {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 210)}.items():
        (folder / name).mkdir(parents=True)
        for i in range(2):
            pixels = np.clip(np.array(colour) + rng.integers(-25, 26, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{name}{i}.png")
    return scan_reference_folder(folder)


def _judge_hw13_app(answer: Any) -> bool:
    import tempfile

    from .app import SimilarityFinder, load_upload
    from .pretrained import IMAGENET_MEAN, IMAGENET_STD, PretrainedModel

    torch.manual_seed(15)
    backbone = nn.Sequential(nn.Conv2d(3, 16, 5, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    pm = PretrainedModel(backbone, backbone, "mobilenet_v2", "homework check", IMAGENET_MEAN, IMAGENET_STD,
                         None, 16, "0", ["0"], "hw-13-app")
    with tempfile.TemporaryDirectory() as tmp:
        reference = _hw_reference(Path(tmp) / "reference")
        find = _call(answer, pm, reference.root)
        if not callable(find):
            raise _Malformed(f"expected make_find to return the find function, got {_describe(find)}")
        ours = SimilarityFinder(pm, reference, cache_dir=Path(tmp) / "cache")
        for query, k in ((reference.paths[0], 3), (reference.paths[5], 2)):
            upload = Path(tmp) / f"upload-{k}.png"
            upload.write_bytes(query.read_bytes())
            given = _call(find, str(upload), k)
            if not (isinstance(given, (tuple, list)) and len(given) == 2 and isinstance(given[1], str)):
                raise _Malformed(f"expected find to return (gallery, message), got {_describe(given)}")
            gallery = given[0]
            if not (isinstance(gallery, (list, tuple)) and all(isinstance(item, (list, tuple)) and len(item) == 2
                                                               and isinstance(item[1], str) for item in gallery)):
                raise _Malformed("expected the gallery to be a list of (image path, caption) pairs")
            if len(gallery) != k:
                raise _Wrong(f"asked for k = {k} matches, got {len(gallery)}")
            try:
                paths = [Path(item[0]).resolve() for item in gallery]
            except TypeError:
                raise _Malformed("expected the gallery's first items to be image paths") from None
            expected = [path.resolve() for path, _, _ in ours.query(load_upload(upload), k)]
            if paths[0] != query.resolve():
                raise _Wrong("an upload of a reference image should find that image first")
            if [p.parent.name for p in paths] != [p.parent.name for p in expected]:
                raise _Wrong("the matches are not the most similar reference images")
        bad = Path(tmp) / "notes.jpg"
        bad.write_text("not an image")
        for upload, what in ((None, "no upload"), (str(bad), "a file that is not an image")):
            try:
                gallery, message = find(upload, 3)
            except Exception as error:  # noqa: BLE001 - the page must keep working
                raise _Wrong(f"{what} made find raise {type(error).__name__}: a bad upload needs a message") from None
            if list(gallery) or not message:
                raise _Wrong(f"{what} should give an empty gallery and a message")
    return True


def _scalar(value: Any) -> Any:
    """A one-element tensor or array as a Python number (anything else unchanged)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 or isinstance(value, np.ndarray) and value.size == 1:
        return value.item()
    return value


def _judge_hw13_eval(answer: Any) -> bool:
    from .retrieval import leave_one_out_metrics

    g = torch.Generator().manual_seed(16)
    for n, classes, k in ((30, 3, 1), (30, 3, 5), (17, 4, 3)):
        labels = torch.arange(n) % classes
        features = torch.randn(classes, 8, generator=g)[labels] + 0.9 * torch.randn(n, 8, generator=g)
        expected = leave_one_out_metrics(features, labels, (k,))
        given = _call(answer, features.clone(), labels.clone(), k)
        if isinstance(given, (torch.Tensor, np.ndarray)) and given.shape == (2,):
            given = given.tolist()
        if not (isinstance(given, (tuple, list)) and len(given) == 2):
            raise _Malformed(f"expected your function to return (precision, recall), got {_describe(given)}")
        precision, recall = (_as_number(_scalar(v)) for v in given)
        if not math.isclose(precision, expected[f"P@{k}"], abs_tol=1e-6):
            raise _Wrong(f"precision@{k} is wrong")
        if not math.isclose(recall, expected[f"R@{k}"], abs_tol=1e-6):
            raise _Wrong(f"recall@{k} is wrong")
    return True


def _as_predictions(given: Any, n: int) -> torch.Tensor:
    """A student's predicted labels as an int64 tensor of shape (n,)."""
    if isinstance(given, torch.Tensor) and given.dtype == torch.bool or isinstance(given, np.ndarray) and given.dtype == bool:
        raise _Malformed("expected the predicted labels (ints), got booleans (the correctness of each image?)")
    labels = _as_matrix(given, (n,), "the predicted labels")
    if not torch.equal(labels.round(), labels):
        raise _Malformed("expected whole-number labels, got fractions")
    return labels.long()


def _tied_votes(retrieved: torch.Tensor) -> torch.Tensor:
    """Which rows of neighbour labels (Q, k) have two or more labels with the most votes."""
    counts = torch.zeros(retrieved.shape[0], int(retrieved.max()) + 1).scatter_add_(
        1, retrieved, torch.ones_like(retrieved, dtype=torch.float32))
    return (counts == counts.max(dim=1, keepdim=True).values).sum(dim=1) > 1


def _clusters(n: int, classes: int, noise: float, generator: torch.Generator,
              centres: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """n feature vectors around one centre per class, labels 0, 1, ... in turn."""
    labels = torch.arange(n) % classes
    if centres is None:
        centres = torch.randn(classes, 8, generator=generator)
    return centres[labels] + noise * torch.randn(n, 8, generator=generator), labels


def _judge_hw13_accuracy(answer: Any) -> bool:
    from .retrieval import leave_one_out_predictions, leave_one_out_search

    g = torch.Generator().manual_seed(17)
    # k = 1 and odd k; even k and three classes give tied votes, decided by the nearest tied label
    for n, classes, k in ((30, 3, 1), (24, 2, 4), (30, 3, 6), (17, 4, 3)):
        features, labels = _clusters(n, classes, 1.2, g)
        expected = leave_one_out_predictions(features, labels, k)
        given = _as_predictions(_call(answer, features.clone(), labels.clone(), k), n)
        if torch.equal(given, expected):
            continue
        where = f"{n} images of {classes} classes and k = {k}"
        if torch.equal(given, labels):
            raise _Wrong(f"every image is predicted right for {where}: is each image left out of its own vote?")
        ties = _tied_votes(labels[leave_one_out_search(features, k)[1]])
        if ((given != expected) <= ties).all():
            raise _Wrong(f"right except where the vote is tied ({where}): a tie goes to the tied label whose "
                         "match comes first")
        raise _Wrong(f"wrong predictions for {where}")
    return True


#: The verdicts of lk.compare_classifiers, which milestone 6 returns.
_VERDICTS = ("A is better", "B is better", "no detectable difference")
#: (images, classes, k, noise of A, noise of B, seed): A clearly better (with k = 1, where an image that
#: votes for itself is always right), B clearly better, a 13-point difference in accuracy on 30 images
#: that the paired test cannot tell from noise, and two backbones equally good (an even k: ties decide).
_COMPARE_CASES = ((80, 4, 1, 0.6, 2.0, 1), (80, 4, 5, 2.0, 0.6, 2), (30, 3, 3, 1.0, 1.3, 3), (60, 3, 4, 1.2, 1.2, 5))


def _compare_case(n: int, classes: int, noise_a: float, noise_b: float, seed: int):
    """Two backbones' features of the same labelled images: the same centres, each with its own noise."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, 8, generator=g)
    features_a, labels = _clusters(n, classes, noise_a, g, centres)
    features_b, _ = _clusters(n, classes, noise_b, g, centres)
    return features_a, features_b, labels


def _judge_hw13_compare(answer: Any) -> bool:
    from .metrics import compare_classifiers
    from .retrieval import leave_one_out_predictions

    for n, classes, k, noise_a, noise_b, seed in _COMPARE_CASES:
        features_a, features_b, labels = _compare_case(n, classes, noise_a, noise_b, seed)
        given = _call(answer, features_a.clone(), features_b.clone(), labels.clone(), k)
        verdict = getattr(given, "verdict", given)
        if not isinstance(verdict, str) or verdict not in _VERDICTS:
            raise _Malformed("expected the result of lk.compare_classifiers (or its verdict: "
                             f"{', '.join(repr(v) for v in _VERDICTS)}), got {_describe(verdict)}")
        correct_a = leave_one_out_predictions(features_a, labels, k) == labels
        correct_b = leave_one_out_predictions(features_b, labels, k) == labels
        if verdict != compare_classifiers(correct_a, correct_b).verdict:
            raise _Wrong(f"the verdict is wrong for two backbones' features of {n} images and k = {k}")
    return True


# The write-up: its template, and the check that each section has been written.
#: The sections of the write-up, in order, and the prompt each holds in the template.
WRITEUP_SECTIONS = {
    "Design choices": (
        "Which two backbones did you use, and why these? Which reference set (how many images, which "
        "labels)? How is an image pre-processed (size, crop, normalisation), and is an upload "
        "pre-processed the same way? Which k does your page show, and why?"),
    "Backbone comparison": (
        "Each backbone's precision@k, recall@k and k-NN accuracy on the reference set (say which k), "
        "and the verdict of the paired test with the numbers it rests on: which backbone searches "
        "better, by how much, and is the difference larger than noise? Then an upload on which the two "
        "disagree: what does each one seem to match on?"),
    "Failure cases": (
        "Show at least two wrong matches: the starter saves them as wrong_matches.png; add the line "
        "`![Wrong matches](wrong_matches.png)`. For each, say what the query shows, what was matched "
        "instead, and why you think the backbone matched it."),
    "Limitations": (
        "What can this approach not do, and why? Think of what the backbone was trained for, what "
        "global pooling keeps and loses, what a cosine score means, and how the search scales with "
        "the reference set. Suggest one change that would address one of the limitations."),
}
#: Words of your own a section needs at least (a sentence, not a keyword).
WRITEUP_MIN_WORDS = 12


def _wrap(text: str) -> str:
    """Lines of at most 100 characters, never breaking inside `code`."""
    protected = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\0"), text)
    return textwrap.fill(protected, width=100, break_long_words=False).replace("\0", " ")


WRITEUP_TEMPLATE = "\n".join([
    "# Write-up · A \"find similar images\" app",
    "",
    "<!-- Replace each TODO paragraph with your own text: a few sentences, a table or a list.",
    "     Keep the four headings: lk.check(\"hw-13-writeup\", \"writeup.md\") looks for each one. -->",
    *[line for title, prompt in WRITEUP_SECTIONS.items() for line in ("", f"## {title}", "", _wrap(f"TODO: {prompt}"))],
    "",
])

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?[^)]*\)|<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.I)


def _sections(text: str) -> dict[str, str]:
    """Each heading's title (lower case) -> the text under it, up to the next heading of its level or above.

    HTML comments and fenced code blocks are left out (a heading inside either is none).
    """
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        lines.append((None if fenced or line.lstrip().startswith(("```", "~~~")) else _HEADING.match(line), line))
    out: dict[str, str] = {}
    for i, (match, _) in enumerate(lines):
        if match is None:
            continue
        level, title = len(match.group(1)), " ".join(match.group(2).split()).lower()
        body = []
        for other, line in lines[i + 1:]:
            if other is not None and len(other.group(1)) <= level:
                break
            body.append(line)
        out.setdefault(title, "\n".join(body))
    return out


def _read_writeup(answer: Any) -> tuple[str, Path | None]:
    """The write-up's text, and its file when it was given as a path."""
    if isinstance(answer, str) and "\n" in answer:
        return answer, None
    if not isinstance(answer, (str, os.PathLike)):
        raise _Malformed(f"expected the write-up: the path of its Markdown file, or its text; got {_describe(answer)}")
    path = Path(answer).expanduser()
    if not path.is_file():
        raise _Malformed(f"expected a write-up at {str(path)!r}, but there is no such file "
                         "(lk.start_writeup creates one from the template)")
    try:
        return path.read_text(encoding="utf-8"), path
    except (OSError, UnicodeDecodeError) as error:
        raise _Malformed(f"expected a Markdown text file at {str(path)!r}, but it cannot be read ({error})") from None


def _judge_hw13_writeup(answer: Any) -> bool:
    text, path = _read_writeup(answer)
    sections = _sections(text)
    for title in WRITEUP_SECTIONS:
        body = sections.get(title.lower())
        if body is None:
            raise _Wrong(f"the section '## {title}' is missing")
        if re.search(r"^\s*TODO\b", body, re.M) or " ".join(WRITEUP_SECTIONS[title].split()) in " ".join(body.split()):
            raise _Wrong(f"the section '{title}' still holds the template's TODO text: replace it with your own")
        prose = re.sub(r"`[^`\n]*`", " ", body)  # code spans: no image, no words of one's own
        images = [a or b for a, b in _IMAGE.findall(prose)]
        words = re.findall(r"[^\W_]+(?:['’-][^\W_]+)*", _IMAGE.sub(" ", prose))
        if len(words) < WRITEUP_MIN_WORDS:
            raise _Wrong(f"the section '{title}' has {'no text' if not words else 'only a few words'} of your own")
        if title == "Failure cases":
            if not images:
                raise _Wrong("the section 'Failure cases' shows no image of a wrong match")
            local = [src for src in images if not re.match(r"[a-z][a-z0-9+.-]*:", src, re.I)]
            missing = [src for src in local if path is not None and not (path.parent / src).is_file()]
            if missing:
                raise _Wrong(f"the image {missing[0]!r} of 'Failure cases' is not in the write-up's folder")
    return True


HOMEWORK: tuple[_Exercise, ...] = (
    _Exercise("hw-13-features", "a function (backbone, images) -> unit-length feature vectors (N, D)",
              "run the backbone in eval mode without gradients, then divide each vector by its length",
              _judge_hw13_features),
    _Exercise("hw-13-index", "a function (references, queries, k) -> (scores, indices), each (Q, k), best first",
              "normalise both sets of vectors, score every pair with one matrix product, and keep the k largest "
              "scores of each row", _judge_hw13_index),
    _Exercise("hw-13-app", "a function make_find(pm, folder) -> find(upload_path, k) -> (gallery, message)",
              "embed every reference image once, embed the upload with the same pre-processing, search with your "
              "index, and catch a bad upload to return ([], a message)", _judge_hw13_app),
    _Exercise("hw-13-eval", "a function (features, labels, k) -> (precision@k, recall@k), each image searching the others",
              "leave each query out of its own results; recall divides by the number of other images with the "
              "query's label", _judge_hw13_eval),
    _Exercise("hw-13-accuracy", "a function (features, labels, k) -> the predicted label of each image (N,), by a "
              "majority vote of the labels of its k best matches among the other images",
              "search each image among the others (leave it out), count the labels of its k best matches, and give "
              "a tie to the tied label that comes first in the ranked list (the nearest)", _judge_hw13_accuracy),
    _Exercise("hw-13-compare", "a function (features_a, features_b, labels, k) -> lk.compare_classifiers of the two "
              "backbones' per-image correctness (or its verdict)",
              "classify every image with each backbone's features (milestone 5), compare the predictions with the "
              "labels, and pass the two correctness vectors, in the same image order, to lk.compare_classifiers "
              "(A first)", _judge_hw13_compare),
    _Exercise("hw-13-writeup", "the write-up: the path of its Markdown file (lk.start_writeup creates it from the "
              "template) or its text",
              "keep the template's four headings (" + ", ".join(WRITEUP_SECTIONS) + "), replace each TODO with a "
              "few sentences of your own, and show the wrong matches as an image under 'Failure cases'",
              _judge_hw13_writeup),
)
