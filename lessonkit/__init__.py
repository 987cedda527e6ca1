"""lessonkit: the companion package of the course "CNNs for Computer Vision".

One module per concept; each helper's docstring names the lesson that
introduces it. The names below are the public interface.
"""

from .data import (
    DATASETS,
    ChecksumError,
    DataUnavailableError,
    ImageFolderDataset,
    Source,
    TensorImageDataset,
    cache_dir,
    fetch,
    load_dataset,
    make_loader,
    mirror_dir,
    subset,
    train_val_split,
)
from .models import MLP, SimpleCNN, conv_block
from .plot import plot_history, show_images, to_display
from .profile import Profile, device, profile, seed_everything, seed_worker, setup
from .progress import progress
from .train import History, evaluate, fit, predict, topk_accuracy

__version__ = "0.1.0"

__all__ = [
    # profile
    "Profile",
    "device",
    "profile",
    "seed_everything",
    "seed_worker",
    "setup",
    "progress",
    # data
    "DATASETS",
    "ChecksumError",
    "DataUnavailableError",
    "ImageFolderDataset",
    "Source",
    "TensorImageDataset",
    "cache_dir",
    "fetch",
    "load_dataset",
    "make_loader",
    "mirror_dir",
    "subset",
    "train_val_split",
    # train
    "History",
    "evaluate",
    "fit",
    "predict",
    "topk_accuracy",
    # models
    "MLP",
    "SimpleCNN",
    "conv_block",
    # plot
    "plot_history",
    "show_images",
    "to_display",
]
