import random

import numpy as np
import pytest
import torch

import lessonkit as lk


def test_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert lk.device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert lk.device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert lk.device().type == "cpu"


def test_profile_defaults_to_full_on_gpu_and_fast_elsewhere(monkeypatch):
    monkeypatch.delenv("LESSONKIT_PROFILE", raising=False)
    assert lk.current_profile(torch.device("cuda")).name == "full"
    assert lk.current_profile(torch.device("cpu")).name == "fast"
    assert lk.current_profile(torch.device("mps")).name == "fast"


@pytest.mark.parametrize("value, expected", [("fast", "fast"), ("FULL", "full"), (" full ", "full")])
def test_profile_environment_variable_wins(monkeypatch, value, expected):
    monkeypatch.setenv("LESSONKIT_PROFILE", value)
    assert lk.current_profile(torch.device("cpu")).name == expected
    assert lk.current_profile(torch.device("cuda")).name == expected


def test_profile_rejects_unknown_names(monkeypatch):
    monkeypatch.setenv("LESSONKIT_PROFILE", "medium")
    with pytest.raises(ValueError, match="LESSONKIT_PROFILE.*'medium'"):
        lk.current_profile()
    with pytest.raises(ValueError, match="profile must be one of"):
        lk.Profile("quick")


def test_choose_picks_by_profile():
    assert lk.Profile("fast").choose(fast=1, full=10) == 1
    assert lk.Profile("full").choose(fast=1, full=10) == 10


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        lk.seed_everything(123)
        return random.random(), np.random.rand(), torch.rand(1).item()

    assert draw() == draw()
    g1 = lk.seed_everything(5)
    g2 = lk.seed_everything(5)
    assert torch.equal(torch.randperm(10, generator=g1), torch.randperm(10, generator=g2))


def test_seed_everything_rejects_non_int():
    with pytest.raises(TypeError, match="seed must be an int"):
        lk.seed_everything(1.5)


def test_dataloader_workers_are_deterministic():
    """Two loaders with the same seed and 2 workers give identical shuffles and numpy draws."""

    class Noisy(torch.utils.data.Dataset):
        def __len__(self):
            return 16

        def __getitem__(self, i):
            return torch.tensor([i, np.random.randint(0, 10**6)])

    def run():
        loader = lk.make_loader(Noisy(), batch_size=4, shuffle=True, seed=7, num_workers=2)
        return torch.cat(list(loader))

    a, b = run(), run()
    assert torch.equal(a, b)
    assert sorted(a[:, 0].tolist()) == list(range(16))
    assert len(set(a[:, 1].tolist())) > 1  # workers draw different numbers


def test_setup_prints_profile_and_device_once(capsys, monkeypatch):
    monkeypatch.setenv("LESSONKIT_PROFILE", "fast")
    prof, dev = lk.setup(seed=3)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert f"profile: fast | device: {dev.type}" in out
    assert prof.name == "fast"


def test_setup_shows_figures_inline_even_with_a_non_interactive_backend(monkeypatch):
    """MPLBACKEND=agg (common on servers) must not make a lesson's figures vanish."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("MPLBACKEND", "agg")
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("import lessonkit as lk, matplotlib.pyplot as plt\nlk.setup(verbose=False)\nplt.plot([1, 2]);")]
    )
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    kinds = [key for out in nb.cells[0].outputs for key in out.get("data", {})]
    assert "image/png" in kinds
