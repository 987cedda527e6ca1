"""lessonkit: the companion package of the course "CNNs for Computer Vision".

One module per concept; each helper's docstring names the lesson that
introduces it. The names below are the public interface.
"""

from .data import (
    DeviceLoader,
    as_tensors,
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
from .data import IMAGENET_MEAN, IMAGENET_STD
from .conv import conv2d_im2col, conv_output_size, conv_parameter_count, convolve2d, cross_correlate2d, im2col, pool2d
from .featuremaps import draw_convolution_step, plot_matrix, show_feature_maps, show_kernels
from .interactive import InteractiveDemo, frame_grid, frames_animation, in_notebook, interactive_demo, render_frames, static_html
from .kernels import KERNEL_NAMES, GaborBank, box_kernel, gabor_bank, gabor_features, gabor_responses, gaussian_kernel, make_kernel
from .models import MLP, SimpleCNN, conv_block
from .augment import (
    CutMix,
    MixUp,
    PerSampleShift,
    PILAugmentedDataset,
    RandomAffine,
    RandomFlip,
    RandomShift,
    affine,
    cutmix,
    mixup,
    random_affine,
    random_hflip,
    random_shift,
)
from .layers import BatchNorm2d, Dropout
from .metrics import confusion_matrix, per_class_accuracy, topk_error
from .shift import accuracy_vs_shift, shift_probabilities, translate
from .plot import plot_accuracy_vs_shift, plot_augmentations, plot_confusion_matrix, plot_history, plot_shift_heatmap, show_images, to_display
from .profile import Profile, device, profile, seed_everything, seed_worker, setup
from .pretrained import (
    extract_features,
    BACKBONES,
    PretrainedModel,
    TransferNet,
    freeze,
    image_transform,
    imagenet_categories,
    pretrained_model,
    transfer_model,
    unfreeze,
)
from .progress import progress
from .notebook import check_close, glue
from .receptive import RFLayer, empirical_receptive_field, input_gradient, receptive_field
from .summary import count_parameters, summarize
from .summary import LayerSummary, ModelSummary, count_mult_adds
from .retrieval import (
    SearchIndex,
    knn_accuracy,
    knn_predict,
    l2_normalize,
    precision_at_k,
    recall_at_k,
    retrieval_metrics,
)
from .architectures import (
    AlexNetSmall,
    BasicBlock,
    Bottleneck,
    ConvNeXtBlock,
    DeepNet,
    DenseBlock,
    InceptionModule,
    LeNet5,
    ResNeXtBlock,
    SqueezeExcitation,
    XResBlock,
    depthwise_separable_conv,
    vgg_block,
    xresnet_stem,
)
from .interpret import (
    capture_activations,
    class_activation_map,
    feature_maps,
    get_layer,
    grad_cam,
    maximize_activation,
    overlay_heatmap,
)
from .train import History, eval_mode, evaluate, fit, predict, topk_accuracy

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
    # notebook: glued numbers and their checks (lesson 00)
    "check_close",
    "glue",
    # data
    "DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
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
    # conv (lessons 01, 03)
    "conv2d_im2col",
    "conv_output_size",
    "conv_parameter_count",
    "convolve2d",
    "cross_correlate2d",
    "im2col",
    "pool2d",
    # kernels and Gabor banks (lessons 01, 02)
    "KERNEL_NAMES",
    "GaborBank",
    "box_kernel",
    "gabor_bank",
    "gabor_features",
    "gabor_responses",
    "gaussian_kernel",
    "make_kernel",
    # featuremaps (lesson 01)
    "draw_convolution_step",
    "plot_matrix",
    "show_feature_maps",
    "show_kernels",
    # receptive fields (lesson 03)
    "RFLayer",
    "empirical_receptive_field",
    "input_gradient",
    "receptive_field",
    # summary (lesson 03)
    "summarize",
    "count_mult_adds",
    "LayerSummary",
    "ModelSummary",
    # interactive (lesson 01)
    "InteractiveDemo",
    "frame_grid",
    "frames_animation",
    "in_notebook",
    "interactive_demo",
    "render_frames",
    "static_html",
    # models
    "MLP",
    "SimpleCNN",
    "conv_block",
    # plot
    "plot_history",
    "show_images",
    "to_display",
    # plot (lessons 04-05)
    "plot_confusion_matrix",
    "plot_shift_heatmap",
    "plot_accuracy_vs_shift",
    "plot_augmentations",
    # layers, metrics (lesson 04)
    "BatchNorm2d",
    "Dropout",
    "confusion_matrix",
    "per_class_accuracy",
    "topk_error",
    # shift (lesson 05)
    "translate",
    "shift_probabilities",
    "accuracy_vs_shift",
    # augment (lessons 05-07)
    "random_shift",
    "random_hflip",
    "affine",
    "random_affine",
    "RandomShift",
    "RandomFlip",
    "RandomAffine",
    "MixUp",
    "CutMix",
    "mixup",
    "cutmix",
    "PerSampleShift",
    "PILAugmentedDataset",
    "DeviceLoader",
    "as_tensors",
    # pretrained (lesson 10)
    "BACKBONES",
    "PretrainedModel",
    "TransferNet",
    "count_parameters",
    "freeze",
    "image_transform",
    "imagenet_categories",
    "pretrained_model",
    "transfer_model",
    "unfreeze",
    # retrieval (lesson 11)
    "SearchIndex",
    "extract_features",
    "knn_accuracy",
    "knn_predict",
    "l2_normalize",
    "precision_at_k",
    "recall_at_k",
    "retrieval_metrics",
    # architectures (lesson 08)
    "AlexNetSmall",
    "BasicBlock",
    "Bottleneck",
    "ConvNeXtBlock",
    "DeepNet",
    "DenseBlock",
    "InceptionModule",
    "LeNet5",
    "ResNeXtBlock",
    "SqueezeExcitation",
    "XResBlock",
    "depthwise_separable_conv",
    "vgg_block",
    "xresnet_stem",
    # interpret (lesson 09)
    "capture_activations",
    "eval_mode",
    "class_activation_map",
    "feature_maps",
    "get_layer",
    "grad_cam",
    "maximize_activation",
    "overlay_heatmap",
]
