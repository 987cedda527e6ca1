"""Tests for the "find similar images" app: cache invalidation, upload handling, and the real server.

The backbone is a tiny random convolution and the reference set six small
solid-colour images, so the whole file runs in seconds; the server test starts
Gradio on a free localhost port and calls it with gradio_client.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from stand_ins import OnAnotherDevice

from lessonkit import app
from lessonkit import pretrained as P
from lessonkit.pretrained import extract_features

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 210)}
SIZE = 32


def tiny_pm(seed: int = 0) -> P.PretrainedModel:
    torch.manual_seed(seed)
    backbone = P._staged([("stem", nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU()))])
    return P.PretrainedModel(backbone, backbone, "mobilenet_v2", "test", (0.5,) * 3, (0.5,) * 3, None, 16, "stem", ["stem"], f"seed{seed}")


def solid(colour: tuple[int, int, int], seed: int, size: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(colour)[None, None, :] + rng.integers(-8, 9, (size, size, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


@pytest.fixture
def reference(tmp_path) -> Path:
    root = tmp_path / "ref"
    for c, (name, colour) in enumerate(COLOURS.items()):
        (root / name).mkdir(parents=True)
        for i in range(2):
            solid(colour, 10 * c + i).save(root / name / f"{name}{i}.png")
    return root


def test_scan_reference_folder(reference, tmp_path):
    ref = app.scan_reference_folder(reference)
    assert [p.name for p in ref.paths] == ["blue0.png", "blue1.png", "green0.png", "green1.png", "red0.png", "red1.png"]
    assert ref.labels == ["blue", "blue", "green", "green", "red", "red"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        app.scan_reference_folder(tmp_path / "empty")
    with pytest.raises(ValueError, match="does not exist"):
        app.scan_reference_folder(tmp_path / "missing")


def test_reference_features_are_cached_and_invalidated(reference, tmp_path):
    cache = tmp_path / "cache"
    pm = tiny_pm()
    ref = app.scan_reference_folder(reference)
    first, from_cache = app.reference_features(pm, ref, cache_dir=cache, image_size=SIZE)
    assert not from_cache and len(list(cache.glob("*.npz"))) == 1
    # The cached values are what a direct computation gives.
    direct = torch.stack([P.image_transform(SIZE, mean=pm.mean, std=pm.std)(Image.open(p)) for p in ref.paths])
    torch.testing.assert_close(first, extract_features(pm.backbone, direct)[0])
    again, from_cache = app.reference_features(pm, ref, cache_dir=cache, image_size=SIZE)
    assert from_cache
    torch.testing.assert_close(again, first)

    # Changing the backbone's weights, the image size or the reference files recomputes.
    assert not app.reference_features(tiny_pm(seed=1), ref, cache_dir=cache, image_size=SIZE)[1]
    assert not app.reference_features(pm, ref, cache_dir=cache, image_size=SIZE + 8)[1]
    solid(COLOURS["red"], 99).save(ref.paths[-1])  # same name, new contents
    assert not app.reference_features(pm, ref, cache_dir=cache, image_size=SIZE)[1]
    solid(COLOURS["blue"], 98).save(reference / "blue" / "blue2.png")  # a new file
    ref2 = app.scan_reference_folder(reference)
    feats, from_cache = app.reference_features(pm, ref2, cache_dir=cache, image_size=SIZE)
    assert not from_cache and feats.shape == (7, 16)
    assert app.reference_features(pm, ref2, cache_dir=cache, image_size=SIZE)[1]
    # A damaged cache file is recomputed, not trusted.
    for f in cache.glob("*.npz"):
        f.write_bytes(b"garbage")
    assert not app.reference_features(pm, ref2, cache_dir=cache, image_size=SIZE)[1]


def leave_one_out_by_hand(feats: torch.Tensor, labels: list[str], k: int) -> tuple[float, float]:
    """Each image against the others, by sorting a similarity matrix with NumPy."""
    f = feats.numpy().astype(np.float64)
    sims = f @ f.T
    precision, recall = [], []
    for i, label in enumerate(labels):
        order = [j for j in np.argsort(-sims[i], kind="stable") if j != i][:k]
        found = sum(labels[j] == label for j in order)
        precision.append(found / k)
        recall.append(found / (labels.count(label) - 1))
    return float(np.mean(precision)), float(np.mean(recall))


def test_reference_metrics_are_computed_once_cached_with_the_features_and_invalidated(reference, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    pm = tiny_pm()
    ref = app.scan_reference_folder(reference)
    metrics, from_cache = app.reference_metrics(pm, ref, cache_dir=cache, image_size=SIZE)
    assert not from_cache and list(metrics) == ["P@1", "R@1", "P@5", "R@5"]  # k = 10 > N - 1 is left out
    feats, _ = app.reference_features(pm, ref, cache_dir=cache, image_size=SIZE)
    for k in (1, 5):
        precision, recall = leave_one_out_by_hand(feats, ref.labels, k)
        assert metrics[f"P@{k}"] == pytest.approx(precision) and metrics[f"R@{k}"] == pytest.approx(recall)
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"  # one cache file holds features and metrics
    # Reused: the second call reads them and computes nothing.
    monkeypatch.setattr(app, "leave_one_out_metrics", lambda *a, **k: pytest.fail("metrics recomputed"))
    monkeypatch.setattr(app, "extract_features", lambda *a, **k: pytest.fail("features recomputed"))
    again, from_cache = app.reference_metrics(pm, ref, cache_dir=cache, image_size=SIZE)
    assert from_cache and again == metrics
    finder = app.SimilarityFinder(pm, ref, cache_dir=cache, image_size=SIZE)
    assert finder.from_cache and finder.metrics_from_cache and finder.metrics == metrics
    assert f"P@5 {metrics['P@5']:.3f}, R@5 {metrics['R@5']:.3f}" in finder.metrics_text()
    monkeypatch.undo()
    # Invalidated with the features: other weights, another image size, a changed file, other ks.
    assert not app.reference_metrics(tiny_pm(seed=1), ref, cache_dir=cache, image_size=SIZE)[1]
    assert not app.reference_metrics(pm, ref, cache_dir=cache, image_size=SIZE + 8)[1]
    assert not app.reference_metrics(pm, ref, cache_dir=cache, image_size=SIZE, ks=(1, 3))[1]
    assert app.reference_metrics(pm, ref, cache_dir=cache, image_size=SIZE, ks=(1, 3))[1]
    solid(COLOURS["red"], 77).save(ref.paths[-1])
    assert not app.reference_metrics(pm, ref, cache_dir=cache, image_size=SIZE, ks=(1, 3))[1]
    # Without labels (every image directly in the folder) there is nothing to measure.
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in ref.paths:
        (flat / path.name).write_bytes(path.read_bytes())
    finder = app.SimilarityFinder(pm, app.scan_reference_folder(flat), cache_dir=cache, image_size=SIZE)
    assert finder.metrics is None and "no precision/recall" in finder.metrics_text()


def test_an_interrupted_cache_write_leaves_no_half_file(reference, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    pm = tiny_pm()
    ref = app.scan_reference_folder(reference)
    app.reference_features(pm, ref, cache_dir=cache, image_size=SIZE)
    before = {p.name: p.read_bytes() for p in cache.iterdir()}

    def interrupted(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(app.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        app.reference_metrics(pm, ref, cache_dir=cache, image_size=SIZE)  # rewrites the file with metrics
    with pytest.raises(KeyboardInterrupt):
        app.reference_features(pm, ref, cache_dir=cache, image_size=SIZE + 8)  # a new file
    assert {p.name: p.read_bytes() for p in cache.iterdir()} == before  # no .part file, the old one intact
    monkeypatch.undo()
    assert app.reference_features(pm, ref, cache_dir=cache, image_size=SIZE)[1]


def write_bad_uploads(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    files["text"] = folder / "notes.jpg"
    files["text"].write_text("this is not an image\n")
    good_jpeg = folder / "good.jpg"
    solid(COLOURS["red"], 5, size=64).save(good_jpeg, quality=90)
    data = good_jpeg.read_bytes()
    files["truncated"] = folder / "truncated.jpg"
    files["truncated"].write_bytes(data[: len(data) // 3])
    files["huge"] = folder / "huge.png"
    Image.new("L", (3000, 2000), 200).save(files["huge"])  # 6 megapixels, compresses to a few kB
    files["empty"] = folder / "empty.png"
    files["empty"].write_bytes(b"")
    return files


def write_good_uploads(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    files["rgb"] = folder / "red.png"
    solid(COLOURS["red"], 123).save(files["rgb"])
    files["gray"] = folder / "gray.png"
    solid(COLOURS["green"], 7).convert("L").save(files["gray"])
    files["rgba"] = folder / "rgba.png"
    rgba = solid(COLOURS["blue"], 8).convert("RGBA")
    rgba.putalpha(255)
    rgba.save(files["rgba"])
    files["palette"] = folder / "palette.gif"
    solid(COLOURS["green"], 9).convert("P").save(files["palette"])
    files["large"] = folder / "large.jpg"
    solid(COLOURS["red"], 10, size=2000).save(files["large"], quality=80)  # 4 MP: shrunk on load
    return files


def test_load_upload_handles_every_kind_of_file(tmp_path):
    good = write_good_uploads(tmp_path / "good")
    for name, path in good.items():
        im = app.load_upload(path)
        assert im.mode == "RGB" and max(im.size) <= app.WORKING_SIDE, name
    assert app.load_upload(good["large"]).size == (app.WORKING_SIDE, app.WORKING_SIDE)
    bad = write_bad_uploads(tmp_path / "bad")
    with pytest.raises(app.UploadError, match="not an image"):
        app.load_upload(bad["text"])
    with pytest.raises(app.UploadError, match="damaged or truncated"):
        app.load_upload(bad["truncated"])
    with pytest.raises(app.UploadError, match="too large: 3000 × 2000"):
        app.load_upload(bad["huge"], max_pixels=5_000_000)
    assert app.load_upload(bad["huge"]).size == (1024, 683)  # allowed under the default limit
    with pytest.raises(app.UploadError, match="empty"):
        app.load_upload(bad["empty"])
    with pytest.raises(app.UploadError, match="upload an image first"):
        app.load_upload(None)


def test_finder_ranks_the_same_colour_first(reference, tmp_path):
    finder = app.SimilarityFinder(tiny_pm(), app.scan_reference_folder(reference), cache_dir=tmp_path / "c", image_size=SIZE)
    good = write_good_uploads(tmp_path / "up")
    matches = finder.query(app.load_upload(good["rgb"]), k=2)
    assert [label for _, label, _ in matches] == ["red", "red"]
    assert matches[0][2] >= matches[1][2] and matches[0][2] > 0.99
    gallery, message = finder.find(good["rgb"], k=100)  # k is clipped to the reference set
    assert len(gallery) == 6 and "Top 6 of 6" in message
    gallery, message = finder.find(tmp_path / "nothing-here.png", 3)
    assert gallery == [] and "did not arrive" in message


def test_finder_runs_the_backbone_on_its_device(reference, tmp_path, monkeypatch):
    backbone = OnAnotherDevice(lambda n: torch.ones(n, 16))  # constant 16-d features
    pm = P.PretrainedModel(backbone, backbone, "mobilenet_v2", "test", (0.5,) * 3, (0.5,) * 3, None, 16, "scale", [], "meta")
    # The cache key hashes the weights, which a meta tensor does not have.
    monkeypatch.setattr(app, "_module_fingerprint", lambda module: "meta stand-in")
    finder = app.SimilarityFinder(pm, app.scan_reference_folder(reference), cache_dir=tmp_path / "c", image_size=SIZE)
    good = write_good_uploads(tmp_path / "up")
    gallery, message = finder.find(good["rgb"], k=3)
    assert len(gallery) == 3 and "Top 3 of 6" in message, message
    assert backbone.seen and set(backbone.seen) == {torch.device("meta")}
    assert finder.metrics is not None and set(finder.metrics) >= {"P@1", "R@1"}, finder.metrics  # reference_metrics ran too


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_server_with_gradio_client(reference, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    from gradio_client import Client, handle_file

    finder = app.SimilarityFinder(
        tiny_pm(), app.scan_reference_folder(reference), cache_dir=tmp_path / "c", image_size=SIZE, max_pixels=5_000_000
    )
    demo = app.build_demo(finder, k=3)
    port = _free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
        allowed_paths=[str(reference)], max_file_size="20mb",
    )
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        good = write_good_uploads(tmp_path / "good")
        bad = write_bad_uploads(tmp_path / "bad")

        def find(path: Path, k: int = 3):
            return client.predict(handle_file(str(path)), k, api_name="/find")

        gallery, message = find(good["rgb"])
        captions = [item["caption"] for item in gallery]
        assert len(gallery) == 3 and captions[0].startswith("red · similarity") and captions[1].startswith("red")
        assert "Top 3 of 6" in message
        assert Path(gallery[0]["image"]).is_file()  # the client downloaded the matched image
        expected = {"gray": None, "rgba": "blue", "palette": "green", "large": "red"}
        for name, label in expected.items():
            gallery, message = find(good[name], 1)
            assert len(gallery) == 1 and "Top 1" in message, name
            if label:
                assert gallery[0]["caption"].startswith(label), name
        for name, phrase in [("text", "not an image"), ("truncated", "damaged or truncated"), ("huge", "too large"), ("empty", "empty")]:
            gallery, message = find(bad[name])
            assert gallery == [] and "Could not use this upload" in message and phrase in message, name
        # The server is still serving after the bad uploads.
        gallery, _ = find(good["rgb"], 2)
        assert len(gallery) == 2
    finally:
        demo.close()


def test_two_backbones_side_by_side_through_a_real_client(reference, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    from gradio_client import Client, handle_file

    ref = app.scan_reference_folder(reference)
    first = app.SimilarityFinder(tiny_pm(0), ref, cache_dir=tmp_path / "c", image_size=SIZE)
    second_pm = tiny_pm(1)
    second_pm.name = "squeezenet1_0"
    second = app.SimilarityFinder(second_pm, ref, cache_dir=tmp_path / "c", image_size=SIZE)
    demo = app.build_demo([first, second], k=3)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                allowed_paths=[str(reference)], max_file_size="20mb")
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        good = write_good_uploads(tmp_path / "good")
        gallery1, message1, gallery2, message2 = client.predict(handle_file(str(good["rgb"])), 3, api_name="/find")
        for finder, gallery, message in ((first, gallery1, message1), (second, gallery2, message2)):
            expected = finder.query(app.load_upload(good["rgb"]), k=3)
            assert [item["caption"] for item in gallery] == [f"{label} · similarity {s:.3f}" for _, label, s in expected]
            assert "Top 3 of 6" in message and finder.pm.pretty_name in message
        # Each column's metrics: computed once per backbone, the same numbers as an independent computation.
        texts = client.predict(api_name="/metrics")
        for finder, text in zip((first, second), texts):
            feats, _ = app.reference_features(finder.pm, ref, cache_dir=tmp_path / "c", image_size=SIZE)
            precision, recall = leave_one_out_by_hand(feats, ref.labels, 5)
            assert text == finder.metrics_text() and f"P@5 {precision:.3f}, R@5 {recall:.3f}" in text
        assert texts[0] != texts[1]  # two different backbones
        bad = write_bad_uploads(tmp_path / "bad")
        out = client.predict(handle_file(str(bad["text"])), 3, api_name="/find")
        assert out[0] == [] and out[2] == [] and "not an image" in out[1] and "not an image" in out[3]
    finally:
        demo.close()


def test_build_demo_checks_its_finders(reference, tmp_path):
    ref = app.scan_reference_folder(reference)
    finder = app.SimilarityFinder(tiny_pm(), ref, cache_dir=tmp_path / "c", image_size=SIZE)
    with pytest.raises(TypeError, match="SimilarityFinder"):
        app.build_demo("finder")
    with pytest.raises(TypeError, match=r"finder\[1\] must be a SimilarityFinder"):
        app.build_demo([finder, None])
    with pytest.raises(ValueError, match="at least one"):
        app.build_demo([])
    other = tmp_path / "other"
    (other / "red").mkdir(parents=True)
    solid(COLOURS["red"], 1).save(other / "red" / "x.png")
    elsewhere = app.SimilarityFinder(tiny_pm(), app.scan_reference_folder(other), cache_dir=tmp_path / "c", image_size=SIZE)
    with pytest.raises(ValueError, match="different reference sets"):
        app.build_demo([finder, elsewhere])


def test_second_backbone_flag(reference, monkeypatch):
    assert app._parser().parse_args([]).second_backbone == "auto"
    assert app._parser().parse_args(["--second-backbone", "none"]).second_backbone == "none"
    assert app.second_backbone("resnet18", "none") is None
    with pytest.raises(ValueError, match="first backbone already"):
        app.second_backbone("squeezenet1_0", "squeezenet1_0")
    with pytest.raises(ValueError, match="choice must be one of"):
        app.second_backbone("resnet18", "vgg16")
    with pytest.raises(TypeError, match="first must be a str"):
        app.second_backbone(None)
    # The command line turns the mistake into a message, before any feature is computed.
    monkeypatch.setattr(app, "pretrained_model", lambda *a, **k: SimpleNamespace(name="squeezenet1_0"))
    with pytest.raises(SystemExit, match="--second-backbone: choice 'squeezenet1_0' is the first backbone already"):
        app.main(["--folder", str(reference), "--second-backbone", "squeezenet1_0"])
    calls = []

    def fake(name, strict=False, download=True):
        calls.append((name, strict, download))
        if name != "squeezenet1_0":
            raise P.DataUnavailableError(f"no {name} here")
        return name

    monkeypatch.setattr(app, "pretrained_model", fake)
    # auto: the next available one after the first, strictly and without downloading
    assert app.second_backbone("resnet18", "auto") == "squeezenet1_0"
    assert calls == [("efficientnet_lite0", True, False), ("squeezenet1_0", True, False)]
    calls.clear()
    # a named one: only that one, downloads allowed, and its failure is not hidden
    with pytest.raises(P.DataUnavailableError):
        app.second_backbone("squeezenet1_0", "mobilenet_v2")
    assert calls == [("mobilenet_v2", True, True)]


def test_command_line_help_and_localhost_default():
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    out = subprocess.run([sys.executable, "-m", "lessonkit.app", "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "--folder" in out.stdout and "--host" in out.stdout and "127.0.0.1" in out.stdout
    assert "--second-backbone" in out.stdout
    args = app._parser().parse_args([])
    assert args.host == "127.0.0.1" and args.dataset == "hymenoptera" and args.split == "val"
